// ui_api.test.mjs - the web UI's own endpoints (docs/web.md) on a real `shoal run`: the page and
// its assets at / and /ui/ (gzip, ETag, 304, CSP, no API key), GET /api/shoal/models, Ollama's
// POST /api/pull against the hub stand-in (tests/system/hub/hub.mjs: progress lines, success, the
// errors of a bad body, an unknown quant and a gated repo, two clients sharing one pull, a client
// that leaves), the nodes that computed a reply (`shoal.nodes`), tokens_per_s in the topology, and
// the API key on all of them (POST /api/shoal/switch too; its own tests: switch.test.mjs).
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import http from 'node:http';
import { shoal, model, startServer, startHub, sleep } from './lib.mjs';

const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'shoal-ui-'));
const root = path.join(tmp, 'hub');
let hub, hubUrl, srv;
const cache = path.join(tmp, 'cache');

before(async () => {
	const tiny = path.join(root, 'test-org', 'tiny-GGUF');
	fs.mkdirSync(tiny, { recursive: true });
	for (const [type, q] of [['q8_0', 'Q8_0'], ['q4_0', 'Q4_0']])
		execFileSync(shoal, ['synth', '--preset', 'test-tiny', '--type', type, '--vocab', model, '-o', path.join(tiny, `tiny-${q}.gguf`)], {
			stdio: 'ignore',
		});
	const gated = path.join(root, 'gated-org', 'secret-GGUF');
	fs.mkdirSync(gated, { recursive: true });
	fs.copyFileSync(path.join(tiny, 'tiny-Q8_0.gguf'), path.join(gated, 'secret-Q8_0.gguf'));
	fs.writeFileSync(path.join(gated, '.gated'), 'hf_right_token_123');
	hub = await startHub(root);
	hubUrl = hub.url;
	srv = await startServer([], { env: { HF_ENDPOINT: hubUrl, HF_HUB_CACHE: cache, HF_TOKEN: '' } });
});

after(async () => {
	await srv?.stop();
	hub?.stop();
	fs.rmSync(tmp, { recursive: true, force: true });
});

const faults = (f) => hub.faults(f);
const reset = () => hub.reset();
const stats = () => hub.stats();
const pull = (base, body) => fetch(`${base}/api/pull`, { method: 'POST', body: typeof body === 'string' ? body : JSON.stringify(body) });
const lines = async (res) => (await res.text()).split('\n').filter(Boolean).map((l) => JSON.parse(l));

test('GET / gives a browser the page; its assets come gzipped, cached by ETag, under a strict CSP', async () => {
	const page = await fetch(`${srv.base}/`, { headers: { accept: 'text/html,application/xhtml+xml' } });
	assert.equal(page.status, 200);
	assert.match(page.headers.get('content-type'), /^text\/html; charset=utf-8/);
	assert.equal(page.headers.get('cache-control'), 'no-cache');
	const csp = page.headers.get('content-security-policy');
	assert.match(csp, /script-src 'self'/);
	assert.match(csp, /connect-src 'self'/);
	const html = await page.text();
	const refs = [...html.matchAll(/(?:src|href)="(\/ui\/[^"?]+)\?v=([0-9a-f]+)"/g)];
	assert.deepEqual(refs.map((m) => m[1]).sort(), ['/ui/app.css', '/ui/app.js']);
	assert.doesNotMatch(html, /https?:\/\//, 'the page names no outside URL');
	for (const [, file, v] of refs) {
		const r = await fetch(srv.base + file, { headers: { 'accept-encoding': 'gzip' } });
		assert.equal(r.status, 200);
		assert.equal(r.headers.get('content-encoding'), 'gzip');
		assert.match(r.headers.get('cache-control'), /immutable/);
		const etag = r.headers.get('etag');
		assert.equal(etag, `"${v}"`, 'the page names the asset by its ETag');
		assert.ok((await r.arrayBuffer()).byteLength > 50);
		const again = await fetch(srv.base + file, { headers: { 'if-none-match': etag } });
		assert.equal(again.status, 304);
		const plain = await new Promise((resolve, reject) =>
			http.get(srv.base + file, (res) => {
				let n = 0;
				res.on('data', (d) => (n += d.length));
				res.on('end', () => resolve({ enc: res.headers['content-encoding'], n }));
			}).on('error', reject),
		);
		assert.equal(plain.enc, undefined, 'no gzip for a client that does not take it');
		assert.ok(plain.n > 50);
	}
	assert.equal((await fetch(`${srv.base}/ui/nope.js`)).status, 404);
	const raw = await new Promise((resolve, reject) => http.get({ host: '127.0.0.1', port: srv.port, path: '/ui/../health' }, resolve).on('error', reject));
	assert.equal(raw.statusCode, 404, 'a path is an asset name, never resolved');
	raw.resume();
});

test('the JSON index lists the UI endpoints', async () => {
	const j = await (await fetch(`${srv.base}/`)).json();
	const paths = j.endpoints.map((e) => `${e.method} ${e.path}`);
	for (const p of ['POST /api/pull', 'GET /api/shoal/models', 'POST /api/shoal/switch', 'GET /ui/{file}']) assert.ok(paths.includes(p), `${p} missing from ${paths}`);
});

test('GET /api/shoal/models: the model served and an empty cache', async () => {
	const r = await fetch(`${srv.base}/api/shoal/models`);
	assert.equal(r.status, 200);
	const j = await r.json();
	assert.equal(j.served.id, 'stories260K');
	assert.equal(j.served.n_layers, 5);
	assert.ok(j.served.n_ctx > 0);
	assert.ok(Array.isArray(j.cache));
	assert.equal((await fetch(`${srv.base}/api/shoal/models`, { method: 'POST', body: '{}' })).status, 405);
});

test('POST /api/pull refuses bodies that are not a pull, with a reason', async () => {
	for (const body of ['', 'not json', '[]', '{}', '{"model": 3}', '{"model": "a/b", "stream": "yes"}', '{"model":"a/b","model":"c/d"}']) {
		const r = await pull(srv.base, body);
		assert.equal(r.status, 400, body);
		assert.match((await r.json()).error, /model/, body);
	}
	const bad = await pull(srv.base, { model: '../../etc/passwd' });
	assert.equal(bad.status, 400);
	assert.match((await bad.json()).error, /not a model reference/);
	assert.equal((await fetch(`${srv.base}/api/pull`)).status, 405);
});

test('POST /api/pull streams progress, ends with success, and the cache then lists the model', async () => {
	await reset();
	await faults({ file: 'test-org/tiny-GGUF/tiny-Q8_0.gguf', throttle: 400000 });
	const t0 = Date.now();
	const got = await lines(await pull(srv.base, { model: 'test-org/tiny-GGUF:Q8_0' }));
	assert.deepEqual(got[0], { status: 'pulling manifest' });
	assert.deepEqual(got.at(-1), { status: 'success' });
	const prog = got.filter((l) => l.status?.startsWith('pulling tiny-Q8_0.gguf'));
	assert.ok(prog.length >= 2, `progress lines: ${JSON.stringify(got)}`);
	for (const l of prog) {
		assert.equal(l.file, 'tiny-Q8_0.gguf');
		assert.equal(l.source, 'hub');
		assert.ok(l.completed <= l.total && l.total > 0, JSON.stringify(l));
	}
	assert.ok(prog.some((l) => l.completed > 0 && l.completed < l.total), 'a line shows the pull part way');
	// lines come at most every 250 ms
	assert.ok(prog.length <= (Date.now() - t0) / 250 + 3, `${prog.length} lines in ${Date.now() - t0} ms`);
	const j = await (await fetch(`${srv.base}/api/shoal/models`)).json();
	const m = j.cache.find((e) => e.reference === 'test-org/tiny-GGUF:Q8_0');
	assert.ok(m, JSON.stringify(j.cache));
	assert.equal(m.complete, true);
	assert.equal(m.size, fs.statSync(path.join(root, 'test-org/tiny-GGUF/tiny-Q8_0.gguf')).size);
	const ls = JSON.parse(execFileSync(shoal, ['ls', '--json'], { env: { ...process.env, HF_HUB_CACHE: cache } }));
	assert.deepEqual(j.cache, ls, 'the same entries as shoal ls --json');
	// again: the cache answers at once
	const again = await (await pull(srv.base, { model: 'test-org/tiny-GGUF:Q8_0', stream: false })).json();
	assert.deepEqual(again, { status: 'success' });
});

test('POST /api/pull: the errors of the hub come back as Ollama does, in the stream or as a 500', async () => {
	await reset();
	const quant = await pull(srv.base, { model: 'test-org/tiny-GGUF:Q5_K_M', stream: false });
	assert.equal(quant.status, 500);
	const q = await quant.json();
	assert.match(q.error, /Q5_K_M/);
	assert.match(q.error, /Q4_0/, 'the error lists the quants the repo has');
	const gated = await lines(await pull(srv.base, { model: 'gated-org/secret-GGUF:Q8_0' }));
	assert.ok(gated.at(-1).error, JSON.stringify(gated));
	assert.match(gated.at(-1).error, /token|gated|HF_TOKEN/i);
	const missing = await lines(await pull(srv.base, { model: 'test-org/no-such-repo' }));
	assert.ok(missing.at(-1).error, JSON.stringify(missing));
	assert.equal((await fetch(`${srv.base}/health`)).status, 200, 'the node stays up');
});

test('two clients asking for one model share one pull; a client that leaves does not stop it', async () => {
	await reset();
	const file = 'test-org/tiny-GGUF/tiny-Q4_0.gguf';
	await faults({ file, throttle: 300000 });
	const size = fs.statSync(path.join(root, file)).size;
	const leaver = new AbortController();
	const first = fetch(`${srv.base}/api/pull`, { method: 'POST', body: JSON.stringify({ model: 'test-org/tiny-GGUF:Q4_0' }), signal: leaver.signal });
	await sleep(300);
	const second = pull(srv.base, { model: 'hf.co/test-org/tiny-GGUF:q4_0', stream: false });
	await sleep(300);
	leaver.abort();
	await first.then((r) => r.text()).catch(() => {});
	const r = await second;
	assert.equal(r.status, 200);
	assert.deepEqual(await r.json(), { status: 'success' });
	const served = (await stats()).bytes[file];
	assert.ok(served >= size && served < size * 1.1, `the hub served ${served} bytes of a ${size}-byte file`);
});

test('a reply names the nodes that computed it; the topology says tokens per second', async () => {
	const body = { messages: [{ role: 'user', content: 'Once upon a time' }], max_tokens: 8, temperature: 0 };
	const j = await (await fetch(`${srv.url}/chat/completions`, { method: 'POST', body: JSON.stringify(body) })).json();
	assert.equal(j.shoal.nodes.length, 1);
	assert.equal(j.shoal.nodes[0].id, 'self');
	assert.deepEqual(j.shoal.nodes[0].layers, [0, 5]);
	assert.equal(j.shoal.nodes[0].host, os.hostname());
	const sse = await (await fetch(`${srv.url}/chat/completions`, { method: 'POST', body: JSON.stringify({ ...body, stream: true }) })).text();
	const chunks = sse.split('\n').filter((l) => l.startsWith('data: {')).map((l) => JSON.parse(l.slice(6)));
	const last = chunks.find((c) => c.choices?.[0]?.finish_reason);
	assert.deepEqual(last.shoal, j.shoal);
	assert.equal(chunks.filter((c) => c.shoal).length, 1, 'only the last chunk carries it');
	const t = await (await fetch(`${srv.url}/topology`)).json();
	assert.equal(typeof t.nodes[0].tokens_per_s, 'number');
	assert.ok(t.nodes[0].tokens_per_s > 0, 'tokens were generated in the last seconds');
});

test('with an API key the page and its assets load, the UI endpoints want the key', async () => {
	const keyed = await startServer(['--api-key', 'sekrit'], { env: { HF_ENDPOINT: hubUrl, HF_HUB_CACHE: cache } });
	try {
		assert.equal((await fetch(`${keyed.base}/`, { headers: { accept: 'text/html' } })).status, 200);
		assert.equal((await fetch(`${keyed.base}/ui/app.js`)).status, 200);
		assert.equal((await fetch(`${keyed.base}/api/shoal/models`)).status, 401);
		assert.equal((await pull(keyed.base, { model: 'test-org/tiny-GGUF:Q8_0' })).status, 401);
		const sw = (headers) => fetch(`${keyed.base}/api/shoal/switch`, { method: 'POST', headers, body: JSON.stringify({ model, stream: false }) });
		assert.equal((await sw({})).status, 401);
		const same = await sw({ authorization: 'Bearer sekrit' }); // the model served: success at once
		assert.equal(same.status, 200);
		assert.deepEqual(await same.json(), { status: 'success', model: 'stories260K' });
		const ok = await fetch(`${keyed.base}/api/shoal/models`, { headers: { authorization: 'Bearer sekrit' } });
		assert.equal(ok.status, 200);
		assert.ok((await ok.json()).cache.length >= 1);
	} finally {
		await keyed.stop();
	}
});
