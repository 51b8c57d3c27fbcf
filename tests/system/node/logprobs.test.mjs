// logprobs.test.mjs - logprobs, logit_bias and the penalties through the official `openai` npm
// client against a real `shoal run` on stories260K: the log-probabilities of completions and chat
// (JSON and streamed, which agree) equal the log-softmax of `shoal logits` at each position, the
// top alternatives are the most likely tokens in order, and the probabilities sum to at most 1;
// logit_bias forces or bans a token; frequency, presence and repetition penalties each change the
// greedy text; the out-of-range values are 400s naming the field.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import OpenAI from 'openai';
import { startServer, shoal, model, post } from './lib.mjs';

let srv, client;
before(async () => {
	srv = await startServer();
	client = new OpenAI({ baseURL: srv.url, apiKey: 'unused', maxRetries: 0, timeout: 60000 });
});
after(async () => {
	if (srv) await srv.stop();
});

// `shoal logits`: the prompt's token ids and the log-softmax of the logits at its last position
function lastLogSoftmax(text) {
	const out = execFileSync(shoal, ['logits', '-m', model, '-p', text, '-t', '1'], { stdio: ['ignore', 'pipe', 'ignore'], maxBuffer: 1 << 26 })
		.toString()
		.trim()
		.split('\n');
	const ids = out[0].trim().split(/\s+/).map(Number);
	const row = out[out.length - 1].trim().split(/\s+/).map(Number);
	const mx = Math.max(...row);
	const lse = mx + Math.log(row.reduce((s, x) => s + Math.exp(x - mx), 0));
	return { ids, lp: row.map((x) => x - lse) };
}

const close = (a, b, what) => assert.ok(Math.abs(a - b) < 2e-3, `${what}: ${a} vs ${b}`);

test('completions: token_logprobs and top_logprobs are the log-softmax of `shoal logits`', async () => {
	const prompt = 'Once upon a time';
	const r = await client.completions.create({ model: 'stories260K', prompt, max_tokens: 6, temperature: 0, logprobs: 5 });
	const lp = r.choices[0].logprobs;
	assert.equal(lp.tokens.join(''), r.choices[0].text);
	assert.equal(lp.tokens.length, 6);
	const n0 = lastLogSoftmax(prompt).ids.length;
	let text = prompt, checked = 0;
	for (let i = 0; i < lp.tokens.length; i++) {
		const ref = lastLogSoftmax(text);
		text += lp.tokens[i];
		if (ref.ids.length !== n0 + i) continue; // the text retokenizes differently: not the same positions
		const best = [...ref.lp].sort((a, b) => b - a).slice(0, 5);
		const top = Object.values(lp.top_logprobs[i]);
		assert.equal(top.length, 5);
		top.forEach((x, k) => close(x, best[k], `token ${i} alternative ${k}`));
		close(lp.token_logprobs[i], best[0], `token ${i} (greedy: the most likely)`);
		assert.ok(top.reduce((s, x) => s + Math.exp(x), 0) <= 1 + 1e-4);
		checked++;
	}
	assert.ok(checked >= 4, `only ${checked} positions retokenized alike`);
	assert.deepEqual(lp.text_offset, lp.tokens.map((_, i) => lp.tokens.slice(0, i).join('').length));
});

test('chat: logprobs and top_logprobs, streamed and not, agree', async () => {
	const body = { model: 'stories260K', messages: [{ role: 'user', content: 'Tell a story' }], max_tokens: 12, temperature: 0, logprobs: true, top_logprobs: 3 };
	const r = await client.chat.completions.create(body);
	const content = r.choices[0].logprobs.content;
	assert.equal(content.map((t) => t.token).join(''), r.choices[0].message.content);
	for (const t of content) {
		assert.equal(t.top_logprobs.length, 3);
		close(t.logprob, t.top_logprobs[0].logprob, 'greedy picks the most likely');
		assert.ok(t.top_logprobs[0].logprob >= t.top_logprobs[1].logprob && t.top_logprobs[1].logprob >= t.top_logprobs[2].logprob);
		assert.deepEqual(t.bytes, [...Buffer.from(t.token)]);
	}
	const streamed = [];
	for await (const c of await client.chat.completions.create({ ...body, stream: true }))
		streamed.push(...(c.choices[0]?.logprobs?.content || []));
	assert.deepEqual(streamed.map((t) => [t.token, t.logprob]), content.map((t) => [t.token, t.logprob]));
	const none = await client.chat.completions.create({ ...body, logprobs: false, top_logprobs: undefined });
	assert.equal(none.choices[0].logprobs, null);
});

test('logit_bias forces a token, or bans the one greedy decoding picks', async () => {
	const prompt = 'Once upon a time';
	const base = await client.completions.create({ model: 'stories260K', prompt, max_tokens: 8, temperature: 0, logprobs: 0 });
	const first = base.choices[0].logprobs.tokens[0];
	const ids = execFileSync(shoal, ['tokenize', '-m', model, '-p', `${prompt}${first}`]).toString().trim().split(/\s+/).map(Number);
	const firstId = ids[ids.length - 1];
	const banned = await client.completions.create({ model: 'stories260K', prompt, max_tokens: 8, temperature: 0, logprobs: 0, logit_bias: { [firstId]: -100 } });
	assert.notEqual(banned.choices[0].logprobs.tokens[0], first);
	const forced = await client.completions.create({ model: 'stories260K', prompt, max_tokens: 5, temperature: 0, logit_bias: { 300: 100 }, logprobs: 0 });
	const toks = forced.choices[0].logprobs.tokens;
	assert.equal(toks.length, 5);
	assert.equal(new Set(toks).size, 1, `one token, forced: ${toks}`);
	assert.notEqual(forced.choices[0].text, base.choices[0].text.slice(0, forced.choices[0].text.length));
});

test('frequency, presence and repetition penalties each change the greedy text', async () => {
	const ask = (extra) =>
		client.completions.create({ model: 'stories260K', prompt: 'Once upon a time', max_tokens: 60, temperature: 0, ...extra }).then((r) => r.choices[0].text);
	const base = await ask({});
	for (const extra of [{ frequency_penalty: 1.5 }, { presence_penalty: 1.5 }, { repetition_penalty: 1.5 }])
		assert.notEqual(await ask(extra), base, JSON.stringify(extra));
});

test('bad logprobs and logit_bias values are 400s naming the field', async () => {
	const bad = [
		['/v1/completions', { prompt: 'x', logprobs: 21 }, 'logprobs'],
		['/v1/completions', { prompt: 'x', logprobs: -1 }, 'logprobs'],
		['/v1/chat/completions', { messages: [{ role: 'user', content: 'x' }], top_logprobs: 2 }, 'top_logprobs'],
		['/v1/chat/completions', { messages: [{ role: 'user', content: 'x' }], logprobs: true, top_logprobs: 21 }, 'top_logprobs'],
		['/v1/chat/completions', { messages: [{ role: 'user', content: 'x' }], logprobs: 1 }, 'logprobs'],
		['/v1/completions', { prompt: 'x', logit_bias: { 999999: 1 } }, 'logit_bias'],
		['/v1/completions', { prompt: 'x', logit_bias: { abc: 1 } }, 'logit_bias'],
		['/v1/completions', { prompt: 'x', logit_bias: { 5: 101 } }, 'logit_bias'],
		['/v1/completions', { prompt: 'x', logit_bias: [1] }, 'logit_bias'],
	];
	for (const [route, body, param] of bad) {
		const r = await post(srv.base, route, JSON.stringify(body));
		assert.equal(r.status, 400, `${JSON.stringify(body)}: ${r.text}`);
		assert.equal(r.json.error.param, param, r.text);
	}
});
