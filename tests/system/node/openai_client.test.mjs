// openai_client.test.mjs - the official `openai` npm client against a real `shoal run` on
// stories260K: models, completions and chat, streaming and not, usage, stop strings, max_tokens,
// seeds, sampling parameters reaching the sampler, and greedy output identical to `shoal generate`.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync, writeFileSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import OpenAI from 'openai';
import { execFileSync, spawnSync } from 'node:child_process';
import { startServer, generate, testdata, metrics, shoal, model } from './lib.mjs';

let srv, client;
before(async () => {
	srv = await startServer();
	client = new OpenAI({ baseURL: srv.url, apiKey: 'unused', maxRetries: 0, timeout: 60000 });
});
after(async () => {
	if (srv) await srv.stop();
});

async function collect(stream) {
	const chunks = [];
	for await (const c of stream) chunks.push(c);
	return chunks;
}

test('models: list and retrieve', async () => {
	const list = await client.models.list();
	assert.equal(list.data.length, 1);
	assert.equal(list.data[0].id, 'stories260K');
	assert.equal(list.data[0].object, 'model');
	const m = await client.models.retrieve('stories260K');
	assert.equal(m.id, 'stories260K');
	await assert.rejects(client.models.retrieve('gpt-nothing'), (e) => e.status === 404 && e.error?.code === 'model_not_found');
});

test('completions: greedy text identical to shoal generate', async () => {
	for (const [prompt, n] of [['Zoo', 57], ['Once upon a time', 60]]) {
		const want = generate(prompt, n);
		const r = await client.completions.create({ model: 'stories260K', prompt, max_tokens: n, temperature: 0 });
		assert.equal(r.object, 'text_completion');
		assert.match(r.id, /^cmpl-/);
		assert.equal(r.model, 'stories260K');
		assert.equal(r.choices.length, 1);
		assert.equal(r.choices[0].text, want, `prompt ${prompt}`);
		assert.equal(r.choices[0].finish_reason, 'length');
		assert.equal(r.usage.completion_tokens, n);
		assert.equal(r.usage.total_tokens, r.usage.prompt_tokens + n);
	}
	// the upstream reference for "Zoo" (llama2.c)
	const ref = readFileSync(`${testdata}/expected/stories260K_greedy_prompt_Zoo_n60.txt`, 'utf8').match(/^text: (.*)$/m)[1];
	const r = await client.completions.create({ model: 'x', prompt: 'Zoo', max_tokens: 57, temperature: 0 });
	assert.equal('Zoo' + r.choices[0].text, ref);
	assert.equal(r.usage.prompt_tokens, 4); // BOS + 3
});

test('completions: greedy from BOS matches the llama2.c reference (256 tokens)', async () => {
	const ref = readFileSync(`${testdata}/expected/stories260K_greedy_bos.txt`, 'utf8').trim();
	const r = await client.completions.create({ model: 'x', prompt: '', max_tokens: 256, temperature: 0 });
	assert.equal(r.choices[0].text.trim(), ref);
	assert.equal(r.usage.prompt_tokens, 1);
});

test('completions: token-id prompt equals the text prompt', async () => {
	const a = await client.completions.create({ model: 'x', prompt: 'Zoo', max_tokens: 20, temperature: 0 });
	const b = await client.completions.create({ model: 'x', prompt: [1, 410, 469, 347], max_tokens: 20, temperature: 0 });
	const c = await client.completions.create({ model: 'x', prompt: ['Zoo'], max_tokens: 20, temperature: 0 });
	assert.equal(b.choices[0].text, a.choices[0].text);
	assert.equal(c.choices[0].text, a.choices[0].text);
	assert.equal(b.usage.prompt_tokens, 4);
});

test('completions: streaming concatenates to the non-streaming text', async () => {
	const full = await client.completions.create({ model: 'x', prompt: 'Zoo', max_tokens: 57, temperature: 0 });
	const chunks = await collect(await client.completions.create({ model: 'x', prompt: 'Zoo', max_tokens: 57, temperature: 0, stream: true }));
	assert.ok(chunks.length >= 2);
	for (const c of chunks) assert.equal(c.object, 'text_completion');
	assert.equal(chunks.map((c) => c.choices[0].text).join(''), full.choices[0].text);
	assert.equal(chunks.at(-1).choices[0].finish_reason, 'length');
	for (const c of chunks.slice(0, -1)) assert.equal(c.choices[0].finish_reason, null);
	assert.ok(new Set(chunks.map((c) => c.id)).size === 1);
});

test('chat: non-streaming shape, max_tokens and usage', async () => {
	const r = await client.chat.completions.create({
		model: 'stories260K',
		messages: [{ role: 'system', content: 'You tell stories.' }, { role: 'user', content: 'Tell me a story.' }],
		max_tokens: 12,
		temperature: 0,
		ignore_eos: true,
	});
	assert.equal(r.object, 'chat.completion');
	assert.match(r.id, /^chatcmpl-/);
	assert.equal(r.choices[0].index, 0);
	assert.equal(r.choices[0].message.role, 'assistant');
	assert.equal(typeof r.choices[0].message.content, 'string');
	assert.ok(r.choices[0].message.content.length > 0);
	assert.equal(r.choices[0].finish_reason, 'length');
	assert.equal(r.usage.completion_tokens, 12);
	assert.ok(r.usage.prompt_tokens > 10, 'the ChatML-rendered prompt is tokenized');
	assert.ok(Number.isInteger(r.created) && Math.abs(r.created - Date.now() / 1000) < 600);
	// max_completion_tokens wins over max_tokens
	const r2 = await client.chat.completions.create({
		model: 'x', messages: [{ role: 'user', content: 'Hi' }], max_tokens: 50, max_completion_tokens: 3, ignore_eos: true,
	});
	assert.equal(r2.usage.completion_tokens, 3);
});

test('chat: streaming with include_usage equals non-streaming', async () => {
	const messages = [{ role: 'user', content: 'Once upon a time' }];
	const full = await client.chat.completions.create({ model: 'x', messages, max_tokens: 40, temperature: 0 });
	const chunks = await collect(await client.chat.completions.create({
		model: 'x', messages, max_tokens: 40, temperature: 0, stream: true, stream_options: { include_usage: true },
	}));
	assert.equal(chunks[0].choices[0].delta.role, 'assistant');
	const usage = chunks.at(-1);
	assert.deepEqual(usage.choices, []);
	assert.deepEqual(usage.usage, full.usage);
	const last = chunks.at(-2);
	assert.equal(last.choices[0].finish_reason, full.choices[0].finish_reason);
	for (const c of chunks) assert.equal(c.object, 'chat.completion.chunk');
	for (const c of chunks.slice(0, -1)) assert.equal(c.usage, null);
	const text = chunks.slice(0, -1).map((c) => c.choices[0].delta.content ?? '').join('');
	assert.equal(text, full.choices[0].message.content);
	// without include_usage: no usage chunk, no usage field
	const plain = await collect(await client.chat.completions.create({ model: 'x', messages, max_tokens: 5, stream: true }));
	assert.ok(plain.every((c) => c.choices.length === 1 && c.usage === undefined));
});

test('chat: content parts equal a string content; developer is system', async () => {
	const a = await client.chat.completions.create({
		model: 'x', messages: [{ role: 'system', content: 'Be kind.' }, { role: 'user', content: 'Hello\nthere' }], max_tokens: 15, temperature: 0,
	});
	const b = await client.chat.completions.create({
		model: 'x',
		messages: [{ role: 'developer', content: 'Be kind.' }, { role: 'user', content: [{ type: 'text', text: 'Hello' }, { type: 'text', text: 'there' }] }],
		max_tokens: 15,
		temperature: 0,
	});
	assert.equal(b.choices[0].message.content, a.choices[0].message.content);
	assert.equal(b.usage.prompt_tokens, a.usage.prompt_tokens);
});

test('stop: the text ends before the earliest stop string, streamed or not', async () => {
	const base = generate('Zoo', 57); // " was a little girl named Lily. She loved to play outside in the park. ..."
	const cut = (s) => base.slice(0, base.indexOf(s));
	for (const stop of ['girl', ['park', 'Lily'], [' named L', 'zzz'], '.']) {
		const want = Array.isArray(stop) ? stop.map(cut).sort((x, y) => x.length - y.length)[0] : cut(stop);
		const r = await client.completions.create({ model: 'x', prompt: 'Zoo', max_tokens: 57, temperature: 0, stop });
		assert.equal(r.choices[0].text, want, `stop ${JSON.stringify(stop)}`);
		assert.equal(r.choices[0].finish_reason, 'stop');
		assert.ok(r.usage.completion_tokens < 57);
		const chunks = await collect(await client.completions.create({ model: 'x', prompt: 'Zoo', max_tokens: 57, temperature: 0, stop, stream: true }));
		assert.equal(chunks.map((c) => c.choices[0].text).join(''), want);
		assert.equal(chunks.at(-1).choices[0].finish_reason, 'stop');
	}
	// a stop string never seen: the whole text, finish length
	const r = await client.completions.create({ model: 'x', prompt: 'Zoo', max_tokens: 57, temperature: 0, stop: ['xyzzy'] });
	assert.equal(r.choices[0].text, base);
	assert.equal(r.choices[0].finish_reason, 'length');
});

test('seeded sampling is reproducible; other seeds differ', async () => {
	const ask = (seed) => client.completions.create({ model: 'x', prompt: 'Once', max_tokens: 48, temperature: 1, top_k: 0, top_p: 1, min_p: 0, seed, ignore_eos: true });
	const a = await ask(1234), b = await ask(1234), c = await ask(99);
	assert.equal(a.choices[0].text, b.choices[0].text);
	assert.notEqual(a.choices[0].text, c.choices[0].text);
	// the chat endpoint too, streamed
	const chat = async (seed) => (await collect(await client.chat.completions.create({
		model: 'x', messages: [{ role: 'user', content: 'Hi' }], max_tokens: 30, temperature: 1.2, seed, stream: true,
	}))).map((x) => x.choices[0]?.delta?.content ?? '').join('');
	assert.equal(await chat(7), await chat(7));
});

test('sampling parameters reach the sampler', async () => {
	const greedy = await client.completions.create({ model: 'x', prompt: 'Zoo', max_tokens: 40, temperature: 0 });
	// top_k 1 at a high temperature is greedy
	const k1 = await client.completions.create({ model: 'x', prompt: 'Zoo', max_tokens: 40, temperature: 2, top_k: 1, seed: 5 });
	assert.equal(k1.choices[0].text, greedy.choices[0].text);
	// a tiny top_p keeps only the best token: greedy as well
	const p0 = await client.completions.create({ model: 'x', prompt: 'Zoo', max_tokens: 40, temperature: 2, top_p: 0.0001, seed: 5 });
	assert.equal(p0.choices[0].text, greedy.choices[0].text);
	// penalties change the greedy text
	const fp = await client.completions.create({ model: 'x', prompt: 'Zoo', max_tokens: 40, temperature: 0, frequency_penalty: 2 });
	assert.notEqual(fp.choices[0].text, greedy.choices[0].text);
	const pp = await client.completions.create({ model: 'x', prompt: 'Zoo', max_tokens: 40, temperature: 0, presence_penalty: 2 });
	assert.notEqual(pp.choices[0].text, greedy.choices[0].text);
	// ignore_eos: exactly max_tokens even where the model would end
	const n = await client.completions.create({ model: 'x', prompt: 'Zoo', max_tokens: 300, temperature: 0, ignore_eos: true });
	assert.equal(n.usage.completion_tokens, 300);
	assert.equal(n.choices[0].finish_reason, 'length');
});

test('metrics count the requests and tokens', async () => {
	const m = await metrics(srv.base);
	assert.ok(m['shoal_http_requests_total{code="200"}'] >= 20);
	assert.ok(m.shoal_generated_tokens_total > 500);
	assert.ok(m.shoal_prompt_tokens_total > 50);
	assert.ok(m.shoal_prompt_tokens_cached_total > 0, 'repeated prompts reuse a slot cache');
	assert.equal(m.shoal_slots_total, 4);
	assert.equal(m.shoal_slots_active, 0);
	assert.equal(m.shoal_queue_depth, 0);
	assert.ok(m.shoal_generation_tokens_per_second > 0);
	for (const k of Object.keys(m)) assert.doesNotMatch(k, /code="5/, 'no 5xx answers');
});

test('chat: the prompt is the ChatML rendering (stories260K has no template), specials parsed', async () => {
	const rendered = '<|im_start|>system\nBe kind.<|im_end|>\n<|im_start|>user\nHi there<|im_end|>\n<|im_start|>assistant\n';
	const ids = execFileSync(shoal, ['tokenize', '-m', model, '-p', rendered, '--parse-special']).toString().trim().split(' ');
	const r = await client.chat.completions.create({
		model: 'x', messages: [{ role: 'system', content: 'Be kind.' }, { role: 'user', content: 'Hi there' }], max_tokens: 20, temperature: 0,
	});
	assert.equal(r.usage.prompt_tokens, ids.length);
	// the same text through /v1/completions gives the same greedy answer
	const c = await client.completions.create({ model: 'x', prompt: rendered, max_tokens: 20, temperature: 0 });
	assert.equal(c.usage.prompt_tokens, ids.length);
	assert.equal(c.choices[0].text, r.choices[0].message.content);
});

test('--chat-template overrides the template; an unknown one stops the start', async () => {
	const other = await startServer(['--chat-template', 'llama2']);
	try {
		assert.match(other.log(), /chat template builtin:llama2/);
		const c = new OpenAI({ baseURL: other.url, apiKey: 'x', maxRetries: 0 });
		const messages = [{ role: 'user', content: 'Hi there' }];
		const a = await c.chat.completions.create({ model: 'x', messages, max_tokens: 1 });
		const b = await client.chat.completions.create({ model: 'x', messages, max_tokens: 1 });
		assert.notEqual(a.usage.prompt_tokens, b.usage.prompt_tokens);
		// the prompt is `shoal template`'s rendering, specials parsed, with one BOS (llama2 writes <s> itself)
		const dir = mkdtempSync(path.join(tmpdir(), 'shoal-chat-'));
		writeFileSync(`${dir}/m.json`, JSON.stringify(messages));
		const text = execFileSync(shoal, ['template', '-m', model, '--chat-template', 'llama2', '--messages', `${dir}/m.json`]).toString();
		assert.match(text, /^<s>\[INST\]/);
		writeFileSync(`${dir}/p.txt`, text);
		const ids = execFileSync(shoal, ['tokenize', '-m', model, '-f', `${dir}/p.txt`, '--parse-special']).toString().trim().split(' ');
		rmSync(dir, { recursive: true });
		assert.deepEqual(ids.slice(0, 2), ['1', '1'], "tokenize adds BOS before the template's <s>");
		assert.equal(a.usage.prompt_tokens, ids.length - 1, 'the server keeps one BOS');
	} finally {
		await other.stop();
	}
	const bad = spawnSync(shoal, ['run', '-m', model, '--port', '0', '--chat-template', '/nonexistent/template.jinja'], { timeout: 20000 });
	assert.equal(bad.status, 1);
	assert.match(bad.stderr.toString(), /chat template/);
});
