// ollama.test.mjs - the official `ollama` npm client against a real `shoal run` on stories260K:
// /api/chat and /api/generate (streamed and not) give the greedy text of /v1/chat/completions and
// /v1/completions for the same request, and its logprobs; options reach the sampler (seed, num_predict, stop,
// top_k, penalties and their window); the shapes of /api/tags (the model served and a model of the
// cache), /api/show, /api/ps and /api/version as the client and Open WebUI read them; Ollama's
// errors ({"error"}: a bad body, an unknown option, another model, embeddings); Ollama's "load"
// answer; tools reaching the chat template; and a client that aborts a stream frees the slot.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { Ollama } from 'ollama';
import { startServer, model, shoal, testdata, post, waitMetrics, stopAll } from './lib.mjs';

const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'shoal-ollama-'));
const cache = path.join(tmp, 'hub');
const cachedName = 'test-org/stories-GGUF:F32';
let srv, client;

// a Hugging Face cache holding a copy of stories260K as test-org/stories-GGUF (huggingface_hub's
// layout: blobs/SHA256, snapshots/COMMIT/FILE -> ../../blobs/SHA256, refs/main)
function makeCache() {
	const repo = path.join(cache, 'models--test-org--stories-GGUF');
	const bytes = fs.readFileSync(model);
	const sha = createHash('sha256').update(bytes).digest('hex');
	const commit = 'a'.repeat(40);
	fs.mkdirSync(path.join(repo, 'blobs'), { recursive: true });
	fs.mkdirSync(path.join(repo, 'snapshots', commit), { recursive: true });
	fs.mkdirSync(path.join(repo, 'refs'), { recursive: true });
	fs.writeFileSync(path.join(repo, 'blobs', sha), bytes);
	fs.symlinkSync(`../../blobs/${sha}`, path.join(repo, 'snapshots', commit, 'stories260K-F32.gguf'));
	fs.writeFileSync(path.join(repo, 'refs', 'main'), commit);
	return { sha, size: bytes.length };
}

let cached;
before(async () => {
	cached = makeCache();
	srv = await startServer([], { env: { HF_HUB_CACHE: cache, HF_HUB_OFFLINE: '1' } });
	client = new Ollama({ host: srv.base });
});
after(async () => {
	await stopAll([srv]);
	fs.rmSync(tmp, { recursive: true, force: true });
});

const openai = async (route, body) => {
	const r = await post(srv.base, route, JSON.stringify(body));
	assert.equal(r.status, 200, r.text);
	return r.json;
};
async function collect(stream) {
	const parts = [];
	for await (const p of stream) parts.push(p);
	return parts;
}

const messages = [{ role: 'system', content: 'You tell stories.' }, { role: 'user', content: 'Once upon a time' }];

test('/api/chat: streamed and whole, the greedy text of /v1/chat/completions', async () => {
	const want = await openai('/v1/chat/completions', { model: 'x', messages, max_tokens: 40, temperature: 0, seed: 3 });
	const parts = await collect(await client.chat({ model: 'stories260K', messages, stream: true, options: { temperature: 0, num_predict: 40, seed: 3 } }));
	assert.ok(parts.length >= 2, 'text, then the last object');
	for (const p of parts.slice(0, -1)) {
		assert.equal(p.done, false);
		assert.equal(p.model, 'stories260K');
		assert.equal(p.message.role, 'assistant');
		assert.ok(!Number.isNaN(Date.parse(p.created_at)), p.created_at);
	}
	const last = parts.at(-1);
	assert.equal(last.done, true);
	assert.equal(last.message.content, '');
	assert.equal(last.done_reason, want.choices[0].finish_reason);
	assert.equal(parts.map((p) => p.message.content).join(''), want.choices[0].message.content);
	assert.equal(last.prompt_eval_count, want.usage.prompt_tokens);
	assert.equal(last.eval_count, want.usage.completion_tokens);
	for (const k of ['total_duration', 'load_duration', 'prompt_eval_duration', 'eval_duration']) assert.ok(Number.isInteger(last[k]) && last[k] >= 0, k);
	assert.ok(last.total_duration >= last.prompt_eval_duration && last.total_duration > 0);

	const whole = await client.chat({ model: 'stories260K:latest', messages, stream: false, options: { temperature: 0, num_predict: 40 } });
	assert.equal(whole.done, true);
	assert.equal(whole.message.content, want.choices[0].message.content);
	assert.equal(whole.done_reason, want.choices[0].finish_reason);
	assert.equal(whole.eval_count, want.usage.completion_tokens);
});

test('/api/generate: raw is /v1/completions, else the prompt through the chat template', async () => {
	const want = await openai('/v1/completions', { model: 'x', prompt: 'Zoo', max_tokens: 30, temperature: 0 });
	const raw = await client.generate({ model: 'stories260K', prompt: 'Zoo', raw: true, options: { temperature: 0, num_predict: 30 } });
	assert.equal(raw.response, want.choices[0].text);
	assert.equal(raw.done_reason, 'length');
	assert.equal(raw.prompt_eval_count, want.usage.prompt_tokens);
	const parts = await collect(await client.generate({ model: 'stories260K', prompt: 'Zoo', raw: true, stream: true, options: { temperature: 0, num_predict: 30 } }));
	assert.equal(parts.map((p) => p.response).join(''), want.choices[0].text);
	assert.equal(parts.at(-1).done, true);

	const chat = await openai('/v1/chat/completions', { model: 'x', messages, max_tokens: 30, temperature: 0 });
	const templated = await client.generate({ model: 'stories260K', system: messages[0].content, prompt: messages[1].content, options: { temperature: 0, num_predict: 30 } });
	assert.equal(templated.response, chat.choices[0].message.content);
	assert.equal(templated.prompt_eval_count, chat.usage.prompt_tokens);
});

test('logprobs and top_logprobs: those of /v1/chat/completions, on both routes, streamed and whole', async () => {
	const want = await openai('/v1/chat/completions', { model: 'x', messages, max_tokens: 20, temperature: 0, logprobs: true, top_logprobs: 3 });
	const lp = want.choices[0].logprobs.content;
	assert.equal(lp.length, want.usage.completion_tokens);
	const options = { temperature: 0, num_predict: 20 };
	const whole = await client.chat({ model: 'stories260K', messages, options, logprobs: true, top_logprobs: 3 });
	assert.deepEqual(whole.logprobs, lp);
	const parts = await collect(await client.chat({ model: 'stories260K', messages, options, logprobs: true, top_logprobs: 3, stream: true }));
	assert.deepEqual(parts.flatMap((p) => p.logprobs ?? []), lp, 'each token with the piece that carries its text');
	for (const p of parts.slice(0, -1)) assert.equal(p.logprobs.map((e) => e.token).join(''), p.message.content);
	const gen = await client.generate({ model: 'stories260K', system: messages[0].content, prompt: messages[1].content, options, logprobs: true, top_logprobs: 3 });
	assert.deepEqual(gen.logprobs, lp, '/api/generate: the same shape');
	const plain = await client.chat({ model: 'stories260K', messages, options });
	assert.equal(plain.logprobs, undefined, 'none unless asked for');
	const bad = await post(srv.base, '/api/chat', JSON.stringify({ model: 'stories260K', messages, top_logprobs: 2 }));
	assert.equal(bad.status, 400);
	assert.match(bad.json.error, /top_logprobs/);
});

test('options reach the sampler', async () => {
	const gen = async (options, prompt = 'Zoo') => (await client.generate({ model: 'stories260K', prompt, raw: true, options })).response;
	const greedy = await gen({ temperature: 0, num_predict: 57 });
	// seeds: the same seed, the same text
	const sampled = { temperature: 1, top_k: 0, top_p: 1, min_p: 0, num_predict: 48, ignore_eos: true };
	const a = await gen({ ...sampled, seed: 1234 }, 'Once'), b = await gen({ ...sampled, seed: 1234 }, 'Once'), c = await gen({ ...sampled, seed: 99 }, 'Once');
	assert.equal(a, b);
	assert.notEqual(a, c);
	// num_predict
	const r = await client.generate({ model: 'stories260K', prompt: 'Zoo', raw: true, options: { temperature: 0, num_predict: 5 } });
	assert.equal(r.eval_count, 5);
	assert.equal(r.done_reason, 'length');
	// stop: the text ends before it, done_reason stop
	const s = await client.generate({ model: 'stories260K', prompt: 'Zoo', raw: true, options: { temperature: 0, num_predict: 57, stop: ['girl'] } });
	assert.equal(s.response, greedy.slice(0, greedy.indexOf('girl')));
	assert.equal(s.done_reason, 'stop');
	// top_k 1 at a high temperature is greedy
	assert.equal(await gen({ temperature: 2, top_k: 1, num_predict: 57, seed: 5 }), greedy);
	// penalties change the greedy text, unless their window is 0
	const fp = await gen({ temperature: 0, num_predict: 57, frequency_penalty: 2 });
	assert.notEqual(fp, greedy);
	assert.equal(await gen({ temperature: 0, num_predict: 57, frequency_penalty: 2, repeat_last_n: 0 }), greedy);
	assert.notEqual(await gen({ temperature: 0, num_predict: 57, repeat_penalty: 3 }), greedy);
	// what a model's load takes: accepted (num_ctx up to the node's context)
	assert.equal(await gen({ temperature: 0, num_predict: 57, num_thread: 2, num_ctx: 512, use_mmap: true, num_gpu: 0 }), greedy);
});

test('/api/tags, /api/show, /api/ps, /api/version: the shapes clients read', async () => {
	const list = await client.list();
	assert.ok(Array.isArray(list.models));
	const names = list.models.map((m) => m.name);
	assert.deepEqual(names, ['stories260K', cachedName]);
	for (const m of list.models) {
		assert.equal(m.model, m.name);
		assert.ok(Number.isInteger(m.size));
		assert.match(m.digest, /^[0-9a-f]{64}$/);
		assert.ok(!Number.isNaN(Date.parse(m.modified_at)), m.modified_at);
		assert.equal(m.details.format, 'gguf');
		for (const k of ['parent_model', 'family', 'parameter_size', 'quantization_level']) assert.equal(typeof m.details[k], 'string', k);
		assert.ok(Array.isArray(m.details.families));
	}
	const c = list.models[1];
	assert.equal(c.size, cached.size);
	assert.equal(c.digest, cached.sha, "a cached model's digest is its blob's sha256");
	assert.equal(c.details.family, 'llama');
	assert.deepEqual(c.details.families, ['llama']);
	assert.equal(c.details.quantization_level, 'F32');
	assert.match(c.details.parameter_size, /^\d+(\.\d+)?[KMB]$/);

	const served = await client.show({ model: 'stories260K' });
	assert.equal(served.model_info['shoal.context_length'], 2048);
	assert.equal(served.model_info['shoal.block_count'], 5);
	assert.deepEqual(served.capabilities, ['completion']);
	assert.match(served.modelfile, /^FROM stories260K$/m);
	assert.equal(served.details.context_length, 2048);
	const shown = await client.show({ model: cachedName });
	assert.equal(shown.model_info['general.architecture'], 'llama');
	assert.equal(shown.model_info['llama.block_count'], 5);
	assert.ok(Number.isInteger(shown.model_info['llama.context_length']));
	assert.deepEqual(shown.model_info['tokenizer.ggml.tokens'], [], 'arrays as Ollama shows them, empty');
	assert.equal(shown.details.family, 'llama');
	await assert.rejects(client.show({ model: 'llama3' }), (e) => e.status_code === 404 && /model 'llama3' not found/.test(e.error));

	const ps = await client.ps();
	assert.equal(ps.models.length, 1);
	assert.equal(ps.models[0].name, 'stories260K');
	assert.equal(ps.models[0].context_length, 2048);
	assert.ok(Date.parse(ps.models[0].expires_at) > Date.now());
	assert.equal(ps.models[0].size_vram, 0);

	assert.deepEqual(await client.version(), { version: '0.5.0' });
});

test("Ollama's errors: {error} with the status", async () => {
	const bad = [
		['/api/chat', 'nope', 400, /not valid JSON/],
		['/api/chat', '', 400, /empty/],
		['/api/chat', JSON.stringify({ messages: [{ role: 'user', content: 'x' }] }), 400, /'model' is required/],
		['/api/chat', JSON.stringify({ model: 'stories260K', messages: [{ role: 'user', content: 'x' }], options: { mirostat: 1 } }), 400, /mirostat/],
		['/api/chat', JSON.stringify({ model: 'stories260K', messages: [{ role: 'user', content: 'x' }], options: { reasoning_effort: 'low' } }), 400, /reasoning_effort/],
		['/api/chat', JSON.stringify({ model: 'stories260K', messages: [{ role: 'user', content: 'x' }], system: 5 }), 400, /'system' must be a string/],
		['/api/chat', JSON.stringify({ model: 'stories260K', messages: [{ role: 'user', content: 'x' }], options: { num_ctx: 1 << 20 } }), 400, /num_ctx/],
		['/api/chat', JSON.stringify({ model: 'stories260K', messages: [{ role: 'wizard', content: 'x' }] }), 400, /messages\[0\]\.role/],
		['/api/chat', JSON.stringify({ model: 'stories260K', messages: [{ role: 'user', content: 'x' }], think: true }), 400, /think/],
		['/api/chat', JSON.stringify({ model: 'llama3', messages: [{ role: 'user', content: 'x' }] }), 404, /^model 'llama3' not found/],
		['/api/generate', JSON.stringify({ model: 'stories260K', prompt: 'x', images: ['aGk='] }), 400, /images/],
		['/api/generate', JSON.stringify({ model: 'stories260K', prompt: 'x', template: '{{ .Prompt }}' }), 400, /template/],
		['/api/generate', JSON.stringify({ model: 'stories260K', prompt: 'x', format: 'yaml' }), 400, /format/],
		['/api/generate', JSON.stringify({ model: 'stories260K', prompt: 'x', format: { type: 'string', pattern: 'a' } }), 400, /pattern/],
		['/api/show', '{}', 400, /model/],
		['/api/embed', JSON.stringify({ model: 'stories260K', input: 'x' }), 501, /^embeddings are not supported: this node serves a generation model$/],
		['/api/embeddings', JSON.stringify({ model: 'stories260K', prompt: 'x' }), 501, /embeddings/],
	];
	for (const [route, body, status, re] of bad) {
		const r = await post(srv.base, route, body);
		assert.equal(r.status, status, `${route} ${body}: ${r.text}`);
		assert.match(r.headers.get('content-type'), /^application\/json/);
		assert.deepEqual(Object.keys(r.json), ['error'], r.text);
		assert.match(r.json.error, re, r.text);
	}
	await assert.rejects(client.chat({ model: 'gpt-nothing', messages }), (e) => e.status_code === 404 && /not found/.test(e.error));
	await assert.rejects(client.generate({ model: 'stories260K', prompt: 'x', options: { tfs_z: 0.5 } }), (e) => e.status_code === 400 && /tfs_z/.test(e.error));
	await assert.rejects(client.embed({ model: 'stories260K', input: 'x' }), (e) => e.status_code === 501);
	const wrong = await fetch(`${srv.base}/api/tags`, { method: 'POST' });
	assert.equal(wrong.status, 405);
	assert.ok((await wrong.json()).error);
});

// Open WebUI (0.9.5: backend/open_webui/routers/ollama.py, utils/payload.py, utils/response.py) talks
// to Ollama through aiohttp: these are its requests as it builds them, and the fields it reads back.
// Its JSON replies must say application/json (aiohttp's r.json() refuses others), a stream is read a
// line at a time, each a JSON object with a message object, and the counts of the last are numbers.
test("Open WebUI's requests, as its backend sends them", async () => {
	const headers = { 'Content-Type': 'application/json' }; // on GETs too
	const get = async (route) => {
		const r = await fetch(srv.base + route, { headers });
		assert.equal(r.status, 200, route);
		assert.match(r.headers.get('content-type'), /^application\/json/, route);
		return r.json();
	};
	const tags = await get('/api/tags');
	for (const m of tags.models) {
		assert.equal(typeof m.model, 'string'); // its id, sent back as it is
		assert.equal(typeof m.name, 'string'); // a model without one breaks its whole list
	}
	const served = tags.models[0];
	assert.equal(served.model, 'stories260K');
	assert.equal(served.details.family, 'llama', 'a model served by path: its details from its header');
	assert.match(served.details.parameter_size, /^\d+K$/);
	assert.equal(served.size, fs.statSync(model).size);
	const ps = await get('/api/ps');
	assert.equal(ps.models[0].model, 'stories260K');
	assert.ok(!Number.isNaN(Date.parse(ps.models[0].expires_at)));
	// tuple(map(int, re.sub(r'^v|-.*', '', version).split('.')))
	const { version } = await get('/api/version');
	assert.ok(version.replace(/^v|-.*/g, '').split('.').every((x) => /^\d+$/.test(x)), version);

	const chat = async (body) => {
		const r = await fetch(`${srv.base}/api/chat`, { method: 'POST', headers, body: JSON.stringify(body) });
		assert.equal(r.status, 200, await r.clone().text());
		return r;
	};
	const usage = ['prompt_eval_count', 'eval_count', 'eval_duration', 'prompt_eval_duration', 'total_duration', 'load_duration'];
	// the chat page: the model's id from the list, options as the settings give them (nulls kept)
	const main = {
		model: served.model, messages, stream: true, keep_alive: '5m',
		options: { temperature: 0, num_predict: 60, top_p: null, num_ctx: 2048, stop: ['zzzz'], presence_penalty: 0, frequency_penalty: 0, use_mlock: false, tfs_z: 1, mirostat: 0, mirostat_eta: 0.1, mirostat_tau: 5, think: null, format: null, keep_alive: null },
	};
	const r = await chat(main);
	assert.match(r.headers.get('content-type'), /^application\/x-ndjson/);
	const text = await r.text();
	assert.ok(text.endsWith('\n'));
	const lines = text.slice(0, -1).split('\n');
	for (const l of lines) assert.ok(l.length > 0 && l.length < 128 * 1024, 'one object a line, none empty or over aiohttp\'s line limit');
	const chunks = lines.map((l) => JSON.parse(l));
	for (const c of chunks) assert.equal(typeof c.message, 'object');
	const last = chunks.at(-1);
	assert.equal(last.done, true);
	for (const k of usage) assert.ok(Number.isInteger(last[k]), k);
	const want = await openai('/v1/chat/completions', { model: 'x', messages, max_tokens: 60, temperature: 0, stop: ['zzzz'] });
	assert.equal(chunks.map((c) => c.message.content).join(''), want.choices[0].message.content);
	// the title and tags tasks: max_tokens becomes a top-level num_predict
	const title = await (await chat({ model: served.model, messages: [{ role: 'user', content: 'Once upon a time' }], stream: false, num_predict: 7 })).json();
	assert.equal(title.eval_count, 7);
	for (const k of usage) assert.ok(Number.isInteger(title[k]), k);
	// a model's system prompt, at the top and as the first message; think off; options {}
	const sys = await (await chat({ model: served.model, messages, system: messages[0].content, think: false, options: {}, stream: false, num_predict: 30 })).json();
	assert.equal(sys.done, true);
	const sysWant = await openai('/v1/chat/completions', { model: 'x', messages, max_tokens: 30, temperature: 0 });
	const greedySys = await (await chat({ model: served.model, messages: [messages[1]], system: messages[0].content, stream: false, options: { temperature: 0, num_predict: 30 } })).json();
	assert.equal(greedySys.message.content, sysWant.choices[0].message.content, 'a top-level system with no system message: the first message');
	// a tool round trip as its payload converter writes it: the call's id null, the result by tool_call_id
	const tools = await (await chat({
		model: served.model, stream: false, options: { num_predict: 5 },
		messages: [messages[1], { role: 'assistant', content: '', tool_calls: [{ index: 0, id: null, function: { name: 'get_time', arguments: { zone: 'UTC' } } }] }, { role: 'tool', tool_call_id: 'call_1', content: '12:00' }],
	})).json();
	assert.equal(tools.done, true);
	// non-ASCII as Python's json.dumps writes it: \\u escapes, emoji as surrogate pairs
	const esc = await fetch(`${srv.base}/api/chat`, { method: 'POST', headers, body: '{"model": "stories260K", "messages": [{"role": "user", "content": "caf\\u00e9 \\ud83d\\ude00"}], "stream": false, "options": {"num_predict": 3}}' });
	assert.equal(esc.status, 200, await esc.text());
	// unloading a model: an empty prompt, keep_alive 0, no stream field; only the status is read
	const unload = await fetch(`${srv.base}/api/generate`, { method: 'POST', headers, body: JSON.stringify({ model: served.model, keep_alive: 0, prompt: '' }) });
	assert.equal(unload.status, 200);
	// /api/show with both name and model
	const show = await fetch(`${srv.base}/api/show`, { method: 'POST', headers, body: JSON.stringify({ model: served.model, name: served.model }) });
	assert.equal(show.status, 200);
	// an error: {error} as JSON, what its error path reads
	const bad = await fetch(`${srv.base}/api/chat`, { method: 'POST', headers, body: JSON.stringify({ ...main, model: 'llama3.2:latest' }) });
	assert.equal(bad.status, 404);
	assert.match(bad.headers.get('content-type'), /^application\/json/);
	assert.equal(typeof (await bad.json()).error, 'string');
});

test('nothing to generate: Ollama\'s "load" answer', async () => {
	const g = await client.generate({ model: 'stories260K', prompt: '' });
	assert.equal(g.done, true);
	assert.equal(g.done_reason, 'load');
	assert.equal(g.response, '');
	const c = await client.chat({ model: 'stories260K', messages: [] });
	assert.equal(c.done_reason, 'load');
	assert.equal(c.message.role, 'assistant');
});

test('tools reach the chat template as /v1/chat/completions gives them', { timeout: 60000 }, async () => {
	const hermes = path.join(testdata, 'templates/NousResearch-Hermes-3-Llama-3.1-8B-tool_use.jinja');
	const synth = path.join(tmp, 'tiny-llama3.gguf');
	execFileSync(shoal, ['synth', '--preset', 'test-tiny-llama3', '--type', 'q8_0', '--vocab', model, '-o', synth], { stdio: 'ignore' });
	const node = await startServer(['--chat-template', hermes], { model: synth });
	try {
		const tools = [{ type: 'function', function: { name: 'get_weather', description: 'The weather', parameters: { type: 'object', properties: { location: { type: 'string' } }, required: ['location'] } } }];
		const oa = [
			{ role: 'user', content: 'What is the weather in Paris?' },
			{ role: 'assistant', content: null, tool_calls: [{ id: 'call_1_0', type: 'function', function: { name: 'get_weather', arguments: '{"location":"Paris"}' } }] },
			{ role: 'tool', tool_call_id: 'call_1_0', content: '{"temperature": 21}' },
		];
		const ol = [
			oa[0],
			{ role: 'assistant', content: '', tool_calls: [{ function: { name: 'get_weather', arguments: { location: 'Paris' } } }] },
			{ role: 'tool', tool_name: 'get_weather', content: '{"temperature": 21}' },
		];
		const want = await post(node.base, '/v1/chat/completions', JSON.stringify({ model: 'x', messages: oa, tools, max_tokens: 1, temperature: 0 }));
		assert.equal(want.status, 200, want.text);
		const c = new Ollama({ host: node.base });
		const got = await c.chat({ model: path.basename(synth, '.gguf'), messages: ol, tools, options: { num_predict: 1, temperature: 0 } });
		assert.equal(got.prompt_eval_count, want.json.usage.prompt_tokens);
		assert.ok(got.prompt_eval_count > 100, 'the tools are in the prompt');
	} finally {
		await stopAll([node]);
	}
});

test('a client that aborts a stream frees its slot', async () => {
	const long = await startServer(['--parallel', '2', '-c', '65536']);
	try {
		const c = new Ollama({ host: long.base });
		const stream = await c.chat({ model: 'stories260K', messages, stream: true, options: { num_predict: 60000, ignore_eos: true } });
		let n = 0;
		await assert.rejects(
			(async () => {
				for await (const p of stream) if (p.message.content && ++n === 3) stream.abort();
			})(),
			(e) => e.name === 'AbortError',
		);
		const m = await waitMetrics(long.base, (m) => m.shoal_slots_active === 0, 2000, 'slot freed after the abort');
		assert.ok(m.shoal_generated_tokens_total < 30000, `generation stopped (${m.shoal_generated_tokens_total} tokens)`);
		// a whole answer whose client leaves
		const ac = new AbortController();
		const pending = fetch(`${long.base}/api/generate`, {
			method: 'POST', body: JSON.stringify({ model: 'stories260K', prompt: 'Zoo', raw: true, stream: false, options: { num_predict: 60000, ignore_eos: true } }), signal: ac.signal,
		}).catch((e) => e);
		await waitMetrics(long.base, (m) => m.shoal_slots_active === 1, 2000, 'the request runs');
		ac.abort();
		await pending;
		await waitMetrics(long.base, (m) => m.shoal_slots_active === 0, 2000, 'slot freed after the client left');
	} finally {
		await stopAll([long]);
	}
});

test('with --api-key the Ollama routes want it', async () => {
	const keyed = await startServer(['--api-key', 'sekrit']);
	try {
		const r = await fetch(`${keyed.base}/api/tags`);
		assert.equal(r.status, 401);
		assert.match((await r.json()).error, /API key/);
		const c = new Ollama({ host: keyed.base, headers: { Authorization: 'Bearer sekrit' } });
		assert.equal((await c.list()).models[0].name, 'stories260K');
		const g = await c.generate({ model: 'stories260K', prompt: 'Zoo', raw: true, options: { num_predict: 3 } });
		assert.equal(g.eval_count, 3);
	} finally {
		await stopAll([keyed]);
	}
});

test('format: "json" and a JSON schema constrain the reply', { timeout: 60000 }, async () => {
	const schema = { type: 'object', properties: { n: { type: 'integer', minimum: 1, maximum: 9 } }, required: ['n'], additionalProperties: false };
	for (let seed = 1; seed <= 5; seed++) {
		const r = await post(srv.base, '/api/chat', JSON.stringify({ model: 'stories260K', messages: [{ role: 'user', content: 'x' }], stream: false, format: schema, options: { num_predict: 200, seed } }));
		assert.equal(r.status, 200, r.text);
		assert.equal(r.json.done_reason, 'stop', r.text);
		const v = JSON.parse(r.json.message.content);
		assert.ok(Number.isInteger(v.n) && v.n >= 1 && v.n <= 9 && Object.keys(v).length === 1, r.json.message.content);
	}
	// "json": an object (free-form ones may run past num_predict: those that end parse)
	const r = await post(srv.base, '/api/generate', JSON.stringify({ model: 'stories260K', prompt: 'x', stream: false, format: 'json', options: { num_predict: 1500, seed: 2 } }));
	assert.equal(r.status, 200, r.text);
	assert.match(r.json.response, /^\s*\{/);
	if (r.json.done_reason === 'stop') assert.equal(typeof JSON.parse(r.json.response), 'object');
});
