// logs.test.mjs - what a real `shoal run` tells a person: one log line per completion request
// (id, client, prompt and cached tokens, generated tokens, time to first token, tok/s, how it
// ended), streamed or not, cancelled or refused; and GET /, which names the node's endpoints from
// its own route table, as HTML for a browser and JSON for a program.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { startServer, post, sleep } from './lib.mjs';

let srv;
before(async () => {
	srv = await startServer();
});
after(async () => {
	if (srv) await srv.stop();
});

const LINE = /^shoal: info: ((?:chat)?cmpl-[0-9a-f]+) (\S+): prompt (\d+) tokens \((\d+) cached\), (\d+) generated, (?:first token ([\d.]+) ms|no token)(?:, ([\d.]+) tok\/s)?, (.+)$/;

// the log line of response id (waits for it: a stream's line is written as it ends)
async function lineOf(id) {
	for (let i = 0; i < 100; i++) {
		const l = srv.log().split('\n').find((x) => x.includes(` ${id} `));
		if (l) return l;
		await sleep(20);
	}
	assert.fail(`no log line for ${id}:\n${srv.log()}`);
}

function fields(line) {
	const m = line.match(LINE);
	assert.ok(m, `not a request line: ${line}`);
	return { id: m[1], client: m[2], prompt: +m[3], cached: +m[4], gen: +m[5], ttft: m[6] && +m[6], rate: m[7] && +m[7], end: m[8] };
}

test('a non-streaming completion logs one line with its usage', async () => {
	const r = await post(srv.base, '/v1/completions', JSON.stringify({ prompt: 'Once upon a time', max_tokens: 12, temperature: 0, ignore_eos: true }));
	assert.equal(r.status, 200);
	const f = fields(await lineOf(r.json.id));
	assert.equal(f.client, '127.0.0.1');
	assert.equal(f.prompt, r.json.usage.prompt_tokens);
	assert.equal(f.gen, r.json.usage.completion_tokens);
	assert.equal(f.end, 'length');
	assert.ok(f.ttft >= 0 && f.rate > 0, JSON.stringify(f));
	assert.equal(srv.log().split('\n').filter((l) => l.includes(r.json.id)).length, 1, 'one line per request');
});

test('a streamed chat logs its line when it ends; a repeat reuses the cache', async () => {
	const body = JSON.stringify({ messages: [{ role: 'user', content: 'Tell me about a cat' }], max_tokens: 8, temperature: 0, stream: true });
	let id;
	for (let round = 0; round < 2; round++) {
		const res = await fetch(`${srv.base}/v1/chat/completions`, { method: 'POST', headers: { 'content-type': 'application/json' }, body });
		const text = await res.text();
		id = JSON.parse(text.split('\n').find((l) => l.startsWith('data: {')).slice(6)).id;
		const f = fields(await lineOf(id));
		assert.match(f.id, /^chatcmpl-/);
		assert.ok(f.gen >= 1 && f.gen <= 8 && ['stop', 'length'].includes(f.end), JSON.stringify(f));
		if (round === 1) assert.ok(f.cached > 0, `the repeat reused nothing: ${JSON.stringify(f)}`);
	}
});

test('a client that leaves mid-stream is logged as cancelled', async () => {
	const ctl = new AbortController();
	const res = await fetch(`${srv.base}/v1/completions`, {
		method: 'POST',
		headers: { 'content-type': 'application/json' },
		body: JSON.stringify({ prompt: 'Once', max_tokens: 100000, ignore_eos: true, stream: true }),
		signal: ctl.signal,
	});
	const reader = res.body.getReader();
	const { value } = await reader.read();
	const id = JSON.parse(new TextDecoder().decode(value).split('\n').find((l) => l.startsWith('data: {')).slice(6)).id;
	ctl.abort();
	const f = fields(await lineOf(id));
	assert.equal(f.end, 'cancelled (the client left)');
});

test('a refused completion request logs method, path, client, status and why', async () => {
	const r = await post(srv.base, '/v1/chat/completions', JSON.stringify({ messages: [], max_tokens: 4 }));
	assert.equal(r.status, 400);
	await sleep(50);
	const line = srv.log().split('\n').find((l) => l.startsWith('shoal: info: POST /v1/chat/completions 127.0.0.1: 400 messages'));
	assert.ok(line, `no refusal line:\n${srv.log()}`);
	assert.ok(line.includes(r.json.error.message), line);
	// other routes are not logged
	await fetch(`${srv.base}/health`);
	await fetch(`${srv.base}/v1/models`);
	assert.doesNotMatch(srv.log(), /\/health|GET \/v1\/models/);
});

test('GET / is the web UI for a browser, the endpoints as JSON otherwise; each one answers', async () => {
	const html = await fetch(`${srv.base}/`, { headers: { accept: 'text/html,application/xhtml+xml' } });
	assert.equal(html.status, 200);
	assert.match(html.headers.get('content-type'), /^text\/html; charset=utf-8/);
	assert.match(await html.text(), /<script[^>]* src="\/ui\/app\.js\?v=/);
	const res = await fetch(`${srv.base}/`);
	assert.match(res.headers.get('content-type'), /^application\/json/);
	const j = await res.json();
	assert.equal(j.name, 'shoal');
	assert.equal(j.model, 'stories260K');
	assert.equal(j.api_base, '/v1');
	const paths = j.endpoints.map((e) => `${e.method} ${e.path}`);
	for (const p of ['POST /v1/chat/completions', 'POST /v1/completions', 'GET /v1/models', 'GET /health', 'GET /metrics', 'GET /'])
		assert.ok(paths.includes(p), `${p} missing from ${paths}`);
	for (const e of j.endpoints) {
		const path = e.path.replace('{id}', 'stories260K').replace('{file}', 'app.js');
		const r = await fetch(srv.base + path, { method: e.method, body: e.method === 'POST' ? '{}' : undefined });
		assert.notEqual(r.status, 404, `${e.method} ${path} is listed but 404`);
		await r.arrayBuffer();
	}
	const head = await fetch(`${srv.base}/`, { method: 'HEAD' });
	assert.equal(head.status, 200);
});

test('with an API key, / still answers but does not name the model to a client without it', async () => {
	const keyed = await startServer(['--api-key', 'sekrit']);
	try {
		const j = await (await fetch(`${keyed.base}/`)).json();
		assert.equal(j.model, null);
		assert.ok(j.endpoints.length > 5);
		const k = await (await fetch(`${keyed.base}/`, { headers: { authorization: 'Bearer sekrit' } })).json();
		assert.equal(k.model, 'stories260K');
		const r = await post(keyed.base, '/v1/completions', JSON.stringify({ prompt: 'x' }));
		assert.equal(r.status, 401);
		await sleep(50);
		assert.match(keyed.log(), /POST \/v1\/completions 127\.0\.0\.1: 401 /);
	} finally {
		await keyed.stop();
	}
});
