// anthropic.test.mjs - the official `@anthropic-ai/sdk` client against a real `shoal run` on
// stories260K: POST /v1/messages gives the greedy text of /v1/chat/completions for the same system
// prompt and messages, whole and streamed (messages.stream and messages.create({stream: true}),
// Anthropic's events in Anthropic's order), with the usage; stop_sequences, top_k and top_p reach
// the sampler; errors come in Anthropic's shape; with --api-key the SDK's x-api-key is taken and a
// wrong key is an authentication_error; tools reach the chat template as /v1 gives them.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import Anthropic from '@anthropic-ai/sdk';
import { startServer, model, shoal, testdata, post, metrics, stopAll } from './lib.mjs';

let srv, client;
before(async () => {
	srv = await startServer();
	client = new Anthropic({ baseURL: srv.base, apiKey: 'unused', maxRetries: 0, timeout: 60000 });
});
after(async () => {
	await stopAll([srv]);
});

const system = 'You tell stories.';
const messages = [{ role: 'user', content: 'Once upon a time' }];
const openaiChat = async (extra = {}) => {
	const r = await post(srv.base, '/v1/chat/completions', JSON.stringify({
		model: 'x', messages: [{ role: 'system', content: system }, ...messages], max_tokens: 40, temperature: 0, ...extra,
	}));
	assert.equal(r.status, 200, r.text);
	return r.json;
};
const reason = (finish) => (finish === 'length' ? 'max_tokens' : 'end_turn');

test('messages.create: the greedy text of /v1/chat/completions, in a message', async () => {
	const want = await openaiChat();
	const m = await client.messages.create({ model: 'claude-sonnet-4-5', max_tokens: 40, temperature: 0, system, messages });
	assert.match(m.id, /^msg_[0-9a-f]{24}$/);
	assert.equal(m.type, 'message');
	assert.equal(m.role, 'assistant');
	assert.equal(m.model, 'stories260K');
	assert.deepEqual(m.content, [{ type: 'text', text: want.choices[0].message.content }]);
	assert.equal(m.stop_reason, reason(want.choices[0].finish_reason));
	assert.equal(m.stop_sequence, null);
	assert.equal(m.usage.input_tokens, want.usage.prompt_tokens);
	assert.equal(m.usage.output_tokens, want.usage.completion_tokens);
	// the system prompt and the content as text blocks: the same
	const blocks = await client.messages.create({
		model: 'x', max_tokens: 40, temperature: 0, system: [{ type: 'text', text: system, cache_control: { type: 'ephemeral' } }],
		messages: [{ role: 'user', content: [{ type: 'text', text: messages[0].content }] }], metadata: { user_id: 'u1' },
	});
	assert.deepEqual(blocks.content, m.content);
	assert.equal(blocks.usage.input_tokens, m.usage.input_tokens);
});

test('messages.stream and create({stream: true}): the same text, events in order', async () => {
	const want = await openaiChat();
	const stream = client.messages.stream({ model: 'x', max_tokens: 40, temperature: 0, system, messages });
	let text = '', pieces = 0;
	stream.on('text', (t) => ((text += t), pieces++));
	const final = await stream.finalMessage();
	assert.equal(text, want.choices[0].message.content);
	assert.ok(pieces >= 1);
	assert.equal(final.content[0].text, text);
	assert.equal(final.stop_reason, reason(want.choices[0].finish_reason));
	assert.equal(final.usage.output_tokens, want.usage.completion_tokens);
	assert.equal(final.usage.input_tokens, want.usage.prompt_tokens, 'from message_delta');

	const events = [];
	for await (const e of await client.messages.create({ model: 'x', max_tokens: 40, temperature: 0, system, messages, stream: true })) events.push(e);
	const types = events.map((e) => e.type);
	assert.deepEqual([...new Set(types)], ['message_start', 'content_block_start', 'content_block_delta', 'content_block_stop', 'message_delta', 'message_stop']);
	assert.equal(types.indexOf('content_block_stop'), types.lastIndexOf('content_block_delta') + 1);
	assert.deepEqual(events[0].message.content, []);
	assert.equal(events[0].message.role, 'assistant');
	assert.match(events[0].message.id, /^msg_/);
	assert.deepEqual(events[1], { type: 'content_block_start', index: 0, content_block: { type: 'text', text: '' } });
	const deltas = events.filter((e) => e.type === 'content_block_delta');
	for (const d of deltas) assert.equal(d.delta.type, 'text_delta');
	assert.equal(deltas.map((d) => d.delta.text).join(''), want.choices[0].message.content);
	const md = events.find((e) => e.type === 'message_delta');
	assert.equal(md.delta.stop_reason, reason(want.choices[0].finish_reason));
	assert.equal(md.delta.stop_sequence, null);
	assert.equal(md.usage.output_tokens, want.usage.completion_tokens);

	// on the wire: Anthropic's event names, a ping after the block starts
	const res = await fetch(`${srv.base}/v1/messages`, {
		method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ model: 'x', max_tokens: 5, system, messages, stream: true }),
	});
	assert.match(res.headers.get('content-type'), /^text\/event-stream/);
	const wire = (await res.text()).split('\n\n').filter(Boolean).map((e) => e.match(/^event: (\w+)\ndata: (.*)$/s));
	assert.ok(wire.every(Boolean));
	for (const [, name, data] of wire) assert.equal(JSON.parse(data).type, name);
	assert.deepEqual(wire.slice(0, 3).map((w) => w[1]), ['message_start', 'content_block_start', 'ping']);
	assert.equal(JSON.parse(wire[0][2]).message.usage.input_tokens, want.usage.prompt_tokens, 'message_start counts the prompt');
	assert.deepEqual(wire.slice(-3).map((w) => w[1]), ['content_block_stop', 'message_delta', 'message_stop']);
});

test('stop_sequences, top_k and top_p reach the sampler', async () => {
	const greedy = (await openaiChat({ max_tokens: 60 })).choices[0].message.content;
	const word = greedy.trim().split(/\s+/)[3];
	const cut = await client.messages.create({ model: 'x', max_tokens: 60, temperature: 0, system, messages, stop_sequences: [word, 'zzzz'] });
	assert.equal(cut.content[0].text, greedy.slice(0, greedy.indexOf(word)));
	assert.equal(cut.stop_reason, 'stop_sequence');
	assert.equal(cut.stop_sequence, word, 'the stop sequence that matched');
	let delta;
	for await (const ev of await client.messages.create({ model: 'x', max_tokens: 60, temperature: 0, system, messages, stop_sequences: ['zzzz', word], stream: true }))
		if (ev.type === 'message_delta') delta = ev.delta;
	assert.deepEqual(delta, { stop_reason: 'stop_sequence', stop_sequence: word }, 'streamed too');
	const k1 = await client.messages.create({ model: 'x', max_tokens: 60, temperature: 1, top_k: 1, system, messages });
	assert.equal(k1.content[0].text, greedy);
	const p0 = await client.messages.create({ model: 'x', max_tokens: 60, temperature: 1, top_p: 0.0001, system, messages });
	assert.equal(p0.content[0].text, greedy);
});

test("errors in Anthropic's shape", async () => {
	const base = { model: 'x', max_tokens: 10, messages };
	const bad = [
		[{ model: 'x', messages }, 'max_tokens'],
		[{ ...base, max_tokens: 0 }, 'max_tokens'],
		[{ max_tokens: 10, messages }, 'model'],
		[{ ...base, messages: [{ role: 'system', content: 'x' }] }, /messages\[0\]\.role/],
		[{ ...base, messages: [{ role: 'assistant', content: 'x' }] }, /prefill/],
		[{ ...base, messages: [{ role: 'user', content: [{ type: 'image', source: { type: 'base64', media_type: 'image/png', data: 'aGk=' } }] }] }, /image block/],
		[{ ...base, messages: [{ role: 'user', content: [{ type: 'tool_use', id: 'a', name: 'f', input: {} }] }] }, /tool_use block/],
		[{ ...base, temperature: 1.5 }, 'temperature'],
		[{ ...base, thinking: { type: 'enabled', budget_tokens: 1024 } }, 'thinking'],
		[{ ...base, mcp_servers: [] }, 'mcp_servers'],
	];
	for (const [body, re] of bad)
		await assert.rejects(client.messages.create(body), (e) => {
			assert.equal(e.status, 400, `${JSON.stringify(body)}: ${e.message}`);
			assert.ok(e instanceof Anthropic.BadRequestError);
			assert.equal(e.error.type, 'error');
			assert.equal(e.error.error.type, 'invalid_request_error');
			assert.match(e.error.error.message, typeof re === 'string' ? new RegExp(re) : re);
			return true;
		});
	for (const body of ['nope', '', '[]']) {
		const r = await post(srv.base, '/v1/messages', body);
		assert.equal(r.status, 400);
		assert.deepEqual(Object.keys(r.json), ['type', 'error']);
		assert.equal(r.json.error.type, 'invalid_request_error');
	}
	const get = await fetch(`${srv.base}/v1/messages`);
	assert.equal(get.status, 405);
	assert.equal((await get.json()).error.type, 'invalid_request_error');
	const m = await metrics(srv.base);
	for (const k of Object.keys(m)) assert.doesNotMatch(k, /code="5/, 'no 5xx answers');
});

test('with --api-key: the SDK\'s x-api-key is taken, a wrong key is an authentication_error', async () => {
	const keyed = await startServer(['--api-key', 'sekrit']);
	try {
		const ok = new Anthropic({ baseURL: keyed.base, apiKey: 'sekrit', maxRetries: 0 });
		const m = await ok.messages.create({ model: 'x', max_tokens: 3, messages });
		assert.equal(m.usage.output_tokens, 3);
		const bearer = new Anthropic({ baseURL: keyed.base, authToken: 'sekrit', apiKey: null, maxRetries: 0 });
		assert.equal((await bearer.messages.create({ model: 'x', max_tokens: 2, messages })).usage.output_tokens, 2);
		const wrong = new Anthropic({ baseURL: keyed.base, apiKey: 'sekrix', maxRetries: 0 });
		await assert.rejects(wrong.messages.create({ model: 'x', max_tokens: 3, messages }), (e) => {
			assert.equal(e.status, 401);
			assert.ok(e instanceof Anthropic.AuthenticationError);
			assert.equal(e.error.error.type, 'authentication_error');
			assert.match(e.error.error.message, /x-api-key/);
			return true;
		});
		const none = await post(keyed.base, '/v1/messages', JSON.stringify({ model: 'x', max_tokens: 3, messages }));
		assert.equal(none.status, 401);
		assert.equal(none.json.error.type, 'authentication_error');
		// x-api-key opens the other routes too
		assert.equal((await fetch(`${keyed.url}/models`, { headers: { 'x-api-key': 'sekrit' } })).status, 200);
		assert.equal((await fetch(`${keyed.url}/models`, { headers: { 'x-api-key': 'sekri' } })).status, 401);
	} finally {
		await stopAll([keyed]);
	}
});

test('tools reach the chat template as /v1/chat/completions gives them', { timeout: 60000 }, async () => {
	const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'shoal-anthropic-'));
	const synth = path.join(tmp, 'tiny-llama3.gguf');
	const hermes = path.join(testdata, 'templates/NousResearch-Hermes-3-Llama-3.1-8B-tool_use.jinja');
	execFileSync(shoal, ['synth', '--preset', 'test-tiny-llama3', '--type', 'q8_0', '--vocab', model, '-o', synth], { stdio: 'ignore' });
	const node = await startServer(['--chat-template', hermes], { model: synth });
	try {
		const schema = { type: 'object', properties: { location: { type: 'string' } }, required: ['location'] };
		const oa = {
			model: 'x', max_tokens: 1, temperature: 0,
			tools: [{ type: 'function', function: { name: 'get_weather', description: 'The weather', parameters: schema } }],
			messages: [
				{ role: 'user', content: 'What is the weather in Paris?' },
				{ role: 'assistant', content: 'Let me look.', tool_calls: [{ id: 'toolu_01', type: 'function', function: { name: 'get_weather', arguments: '{"location":"Paris"}' } }] },
				{ role: 'tool', tool_call_id: 'toolu_01', content: '{"temperature": 21}' },
			],
		};
		const want = await post(node.base, '/v1/chat/completions', JSON.stringify(oa));
		assert.equal(want.status, 200, want.text);
		const c = new Anthropic({ baseURL: node.base, apiKey: 'x', maxRetries: 0 });
		const got = await c.messages.create({
			model: 'x', max_tokens: 1, temperature: 0,
			tools: [{ name: 'get_weather', description: 'The weather', input_schema: schema }],
			messages: [
				oa.messages[0],
				{ role: 'assistant', content: [{ type: 'text', text: 'Let me look.' }, { type: 'tool_use', id: 'toolu_01', name: 'get_weather', input: { location: 'Paris' } }] },
				{ role: 'user', content: [{ type: 'tool_result', tool_use_id: 'toolu_01', content: '{"temperature": 21}' }] },
			],
		});
		assert.equal(got.usage.input_tokens, want.json.usage.prompt_tokens);
		assert.ok(got.usage.input_tokens > 100, 'the tools are in the prompt');
		// tool_choice any: one call of a tool, its input a value of the tool's input_schema
		const forced = await c.messages.create({ model: 'x', max_tokens: 1500, tools: [{ name: 'get_weather', description: 'The weather', input_schema: schema }], tool_choice: { type: 'any' }, messages });
		assert.equal(forced.stop_reason, 'tool_use', JSON.stringify(forced));
		const use = forced.content.find((b) => b.type === 'tool_use');
		assert.equal(use.name, 'get_weather');
		assert.equal(typeof use.input, 'object');
		await assert.rejects(
			c.messages.create({ model: 'x', max_tokens: 1, tools: [{ name: 'f', description: 'f', input_schema: schema }], tool_choice: { type: 'tool' }, messages }),
			(e) => e.status === 400 && /tool_choice/.test(e.error.error.message),
		);
	} finally {
		await stopAll([node]);
		fs.rmSync(tmp, { recursive: true, force: true });
	}
});
