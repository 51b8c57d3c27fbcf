// errors.test.mjs - malformed requests against a real `shoal run`: each case gets the right 4xx
// status and an OpenAI error object ({error: {message, type, param, code}}), and the server
// answers a good request right after each one. Then the API key, and no 5xx anywhere.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import net from 'node:net';
import { spawnSync } from 'node:child_process';
import { startServer, metrics, post, shoal, model } from './lib.mjs';

let srv;
before(async () => {
	srv = await startServer();
});
after(async () => {
	if (srv) await srv.stop();
});

const C = '/v1/completions', CHAT = '/v1/chat/completions';
const J = (o) => JSON.stringify(o);
const chat = (extra) => J({ model: 'x', messages: [{ role: 'user', content: 'Hi' }], ...extra });
const comp = (extra) => J({ model: 'x', prompt: 'Zoo', ...extra });

// [name, method, route, body (string | Buffer | null), status, expected param (undefined: any), code (undefined: any)]
const cases = [
	['broken JSON', 'POST', C, '{"prompt": "Zoo",', 400, null, 'invalid_json'],
	['not JSON', 'POST', C, 'hello', 400, null, 'invalid_json'],
	['empty body', 'POST', C, '', 400, null, 'invalid_json'],
	['JSON array body', 'POST', C, '[]', 400, null, 'invalid_json'],
	['JSON string body', 'POST', CHAT, '"hi"', 400, null, 'invalid_json'],
	['trailing garbage', 'POST', C, '{"prompt":"Zoo"} x', 400, null, 'invalid_json'],
	['invalid UTF-8 in a string', 'POST', C, Buffer.concat([Buffer.from('{"prompt":"Zo'), Buffer.from([0xff, 0xfe]), Buffer.from('"}')]), 400, null, 'invalid_encoding'],
	['overlong UTF-8', 'POST', CHAT, Buffer.concat([Buffer.from('{"messages":[{"role":"user","content":"'), Buffer.from([0xc0, 0xaf]), Buffer.from('"}]}')]), 400, null, 'invalid_encoding'],
	['lone surrogate escape', 'POST', C, '{"prompt":"\\ud800"}', 400, null, 'invalid_json'],
	['NUL escape', 'POST', C, '{"prompt":"a\\u0000b"}', 400, null, 'invalid_json'],
	['deep nesting', 'POST', C, '{"prompt":' + '['.repeat(100000) + ']'.repeat(100000) + '}', 400, null, undefined],
	['chat: missing messages', 'POST', CHAT, J({ model: 'x' }), 400, 'messages', 'missing_required_parameter'],
	['chat: messages not an array', 'POST', CHAT, J({ messages: 'Hi' }), 400, 'messages', 'invalid_type'],
	['chat: no messages', 'POST', CHAT, J({ messages: [] }), 400, 'messages', 'invalid_value'],
	['chat: message not an object', 'POST', CHAT, J({ messages: ['Hi'] }), 400, 'messages[0]', 'invalid_type'],
	['chat: missing role', 'POST', CHAT, J({ messages: [{ content: 'Hi' }] }), 400, 'messages[0].role', 'missing_required_parameter'],
	['chat: unknown role', 'POST', CHAT, J({ messages: [{ role: 'wizard', content: 'Hi' }] }), 400, 'messages[0].role', 'invalid_value'],
	['chat: role not a string', 'POST', CHAT, J({ messages: [{ role: 1, content: 'Hi' }] }), 400, 'messages[0].role', 'invalid_type'],
	['chat: content a number', 'POST', CHAT, J({ messages: [{ role: 'user', content: 5 }] }), 400, 'messages[0].content', 'invalid_type'],
	['chat: user content null', 'POST', CHAT, J({ messages: [{ role: 'user', content: null }] }), 400, 'messages[0].content', 'missing_required_parameter'],
	['chat: image part', 'POST', CHAT, J({ messages: [{ role: 'user', content: [{ type: 'image_url', image_url: { url: 'x' } }] }] }), 400, 'messages[0].content[0]', 'invalid_value'],
	['chat: part without text', 'POST', CHAT, J({ messages: [{ role: 'user', content: [{ type: 'text' }] }] }), 400, 'messages[0].content[0]', 'missing_required_parameter'],
	['completions: missing prompt', 'POST', C, J({ model: 'x' }), 400, 'prompt', 'missing_required_parameter'],
	['completions: prompt a number', 'POST', C, J({ prompt: 5 }), 400, 'prompt', 'invalid_type'],
	['completions: two prompts', 'POST', C, J({ prompt: ['a', 'b'] }), 400, 'prompt', 'invalid_value'],
	['completions: empty prompt array', 'POST', C, J({ prompt: [] }), 400, 'prompt', 'invalid_value'],
	['completions: token id out of range', 'POST', C, J({ prompt: [1, 99999] }), 400, 'prompt', 'invalid_value'],
	['completions: negative token id', 'POST', C, J({ prompt: [[1, -3]] }), 400, 'prompt[0]', 'invalid_value'],
	['max_tokens a string', 'POST', C, comp({ max_tokens: '10' }), 400, 'max_tokens', 'invalid_type'],
	['max_tokens zero', 'POST', C, comp({ max_tokens: 0 }), 400, 'max_tokens', 'invalid_value'],
	['max_tokens negative', 'POST', CHAT, chat({ max_tokens: -5 }), 400, 'max_tokens', 'invalid_value'],
	['max_tokens fractional', 'POST', C, comp({ max_tokens: 1.5 }), 400, 'max_tokens', 'invalid_type'],
	['max_tokens huge', 'POST', C, '{"prompt":"Zoo","max_tokens":1e30}', 400, 'max_tokens', undefined],
	['max_completion_tokens a bool', 'POST', CHAT, chat({ max_completion_tokens: true }), 400, 'max_completion_tokens', 'invalid_type'],
	['temperature too high', 'POST', C, comp({ temperature: 3 }), 400, 'temperature', 'invalid_value'],
	['temperature a string', 'POST', CHAT, chat({ temperature: 'hot' }), 400, 'temperature', 'invalid_type'],
	['top_p above 1', 'POST', C, comp({ top_p: 1.5 }), 400, 'top_p', 'invalid_value'],
	['top_k negative', 'POST', C, comp({ top_k: -1 }), 400, 'top_k', 'invalid_value'],
	['min_p above 1', 'POST', CHAT, chat({ min_p: 2 }), 400, 'min_p', 'invalid_value'],
	['frequency_penalty out of range', 'POST', C, comp({ frequency_penalty: 5 }), 400, 'frequency_penalty', 'invalid_value'],
	['presence_penalty out of range', 'POST', CHAT, chat({ presence_penalty: -3 }), 400, 'presence_penalty', 'invalid_value'],
	['n = 2', 'POST', CHAT, chat({ n: 2 }), 400, 'n', 'invalid_value'],
	['stream a string', 'POST', C, comp({ stream: 'yes' }), 400, 'stream', 'invalid_type'],
	['stream_options a number', 'POST', CHAT, chat({ stream: true, stream_options: 5 }), 400, 'stream_options', 'invalid_type'],
	['include_usage a string', 'POST', CHAT, chat({ stream: true, stream_options: { include_usage: 'yes' } }), 400, 'stream_options.include_usage', 'invalid_type'],
	['stop a number', 'POST', C, comp({ stop: 5 }), 400, 'stop', 'invalid_type'],
	['stop array with a number', 'POST', C, comp({ stop: ['a', 1] }), 400, 'stop[1]', 'invalid_type'],
	['too many stop strings', 'POST', C, comp({ stop: Array.from({ length: 17 }, (_, i) => `s${i}`) }), 400, 'stop', 'invalid_value'],
	['stop string too long', 'POST', CHAT, chat({ stop: 'x'.repeat(300) }), 400, 'stop', 'invalid_value'],
	['seed a string', 'POST', C, comp({ seed: 'abc' }), 400, 'seed', 'invalid_type'],
	['model a number', 'POST', CHAT, chat({ model: 5 }), 400, 'model', 'invalid_type'],
	['ignore_eos a string', 'POST', C, comp({ ignore_eos: 'true' }), 400, 'ignore_eos', 'invalid_type'],
	['prompt longer than the context', 'POST', C, comp({ prompt: 'Zoo '.repeat(3000) }), 400, 'prompt', 'context_length_exceeded'],
	['body over the limit', 'POST', C, comp({ prompt: 'x'.repeat(9 << 20) }), 413, null, 'request_too_large'],
	['unknown route', 'GET', '/v1/nothing', null, 404, null, 'unknown_url'],
	['unknown POST route', 'POST', '/v2/chat/completions', chat({}), 404, null, 'unknown_url'],
	['POST on the index page', 'POST', '/', chat({}), 405, null, 'method_not_allowed'],
	['a page under the index', 'GET', '/index.php', null, 404, null, 'unknown_url'],
	['GET on a POST route', 'GET', CHAT, null, 405, null, 'method_not_allowed'],
	['DELETE on models', 'DELETE', '/v1/models', null, 405, null, 'method_not_allowed'],
	['unknown model id', 'GET', '/v1/models/nope', null, 404, 'model', 'model_not_found'],
];

function checkError(name, r, status, param, code) {
	assert.equal(r.status, status, `${name}: status ${r.status}: ${r.text.slice(0, 300)}`);
	assert.match(r.headers.get('content-type') || '', /application\/json/, name);
	const e = r.json?.error;
	assert.ok(e && typeof e === 'object', `${name}: no error object: ${r.text.slice(0, 300)}`);
	assert.equal(typeof e.message, 'string', name);
	assert.ok(e.message.length > 5, name);
	assert.equal(typeof e.type, 'string', name);
	assert.ok('param' in e && 'code' in e, `${name}: param and code present`);
	if (param !== undefined) assert.equal(e.param, param, `${name}: param`);
	if (code !== undefined) assert.equal(e.code, code, `${name}: code`);
	if (param) assert.ok(e.message.includes(param.replace(/\[\d+\].*$/, '')), `${name}: the message names the field: ${e.message}`);
}

async function goodRequest(name) {
	const r = await post(srv.base, C, comp({ max_tokens: 2, temperature: 0 }));
	assert.equal(r.status, 200, `good request after ${name}: ${r.text}`);
	assert.equal(r.json.usage.completion_tokens, 2);
}

test(`${cases.length} malformed requests: right 4xx, an error object, and the server goes on`, async () => {
	assert.ok(cases.length >= 30);
	for (const [name, method, route, body, status, param, code] of cases) {
		let r;
		if (method === 'POST') {
			r = await post(srv.base, route, body);
		} else {
			const res = await fetch(srv.base + route, { method });
			const text = await res.text();
			r = { status: res.status, headers: res.headers, text, json: JSON.parse(text) };
		}
		checkError(name, r, status, param, code);
		if (status === 405) assert.match(r.headers.get('allow'), /(GET|POST)/);
		await goodRequest(name);
	}
});

test('garbage on the socket and a half-sent request do not hurt the server', async () => {
	for (const bytes of ['\x00\x01\x02 garbage\r\n\r\n', 'POST /v1/completions HTTP/1.1\r\nHost: x\r\nContent-Length: 100\r\n\r\n{"prompt"', 'GET /health HTTP/1.1\r\nHost: x\r\n' + 'X-A: b\r\n'.repeat(5000) + '\r\n']) {
		await new Promise((resolve) => {
			const s = net.connect(srv.port, '127.0.0.1', () => {
				s.write(bytes);
				setTimeout(() => s.destroy(), 100);
			});
			s.on('error', () => {});
			s.on('close', resolve);
		});
		await goodRequest('raw socket bytes');
	}
});

test('CORS preflight', async () => {
	const res = await fetch(srv.base + CHAT, { method: 'OPTIONS' });
	assert.equal(res.status, 204);
	assert.equal(res.headers.get('access-control-allow-origin'), '*');
	assert.match(res.headers.get('access-control-allow-headers'), /Authorization/);
});

test('no input produced a 5xx', async () => {
	const m = await metrics(srv.base);
	for (const k of Object.keys(m)) assert.doesNotMatch(k, /code="5/, `${k} = ${m[k]}`);
	assert.ok(m['shoal_http_requests_total{code="400"}'] >= 40);
	assert.equal(m['shoal_http_requests_total{code="413"}'], 1);
	assert.equal(m.shoal_slots_active, 0);
});

test('API key: 401 without or with a wrong key, 200 with it; /health needs none', async () => {
	const k = await startServer(['--api-key', 's3cret-key']);
	try {
		for (const auth of [undefined, 'Bearer wrong', 'Bearer s3cret-ke', 'Bearer s3cret-key2', 's3cret-key', 'Basic czNjcmV0LWtleQ==']) {
			const r = await post(k.base, C, comp({ max_tokens: 1 }), auth ? { authorization: auth } : {});
			checkError(`auth ${auth}`, r, 401, null, 'invalid_api_key');
			assert.match(r.headers.get('www-authenticate'), /Bearer/);
			const m = await fetch(k.base + '/v1/models', auth ? { headers: { authorization: auth } } : {});
			assert.equal(m.status, 401);
		}
		const ok = await post(k.base, C, comp({ max_tokens: 1 }), { authorization: 'Bearer s3cret-key' });
		assert.equal(ok.status, 200);
		assert.equal((await fetch(k.base + '/health')).status, 200);
		assert.equal((await fetch(k.base + '/v1/models', { headers: { authorization: 'Bearer s3cret-key' } })).status, 200);
		// the key from the environment works the same
	} finally {
		await k.stop();
	}
	const e = await startServer([], { env: { SHOAL_API_KEY: 'env-key' } });
	try {
		assert.equal((await post(e.base, C, comp({ max_tokens: 1 }))).status, 401);
		assert.equal((await post(e.base, C, comp({ max_tokens: 1 }), { authorization: 'Bearer env-key' })).status, 200);
	} finally {
		await e.stop();
	}
});

test('a port in use is an error at start (no second server on the same port)', async () => {
	const r = spawnSync(shoal, ['run', '-m', model, '--host', '127.0.0.1', '--port', String(srv.port), '-t', '1'], { timeout: 20000 });
	assert.equal(r.status, 1, r.stderr.toString());
	assert.match(r.stderr.toString(), /cannot listen on 127\.0\.0\.1 port \d+/);
	await goodRequest('a second server tried the port');
});
