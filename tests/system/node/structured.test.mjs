// structured.test.mjs - structured output by constrained decoding, through the official `openai` npm
// client against a real `shoal run` on a random-weight model (synth test-tiny with the Llama 3 BPE
// vocabulary of 128k tokens and the real Llama 3.1 template): json_schema replies parse and
// validate with ajv for 20 seeds x 5 schemas; json_object replies are objects; a required or named
// tool_choice gives a call whose arguments validate against the tool's parameters, and the
// streamed deltas reassemble to the whole answer; an unsupported keyword is a 400 naming it.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import OpenAI from 'openai';
import Ajv from 'ajv';
import addFormats from 'ajv-formats';
import { shoal, testdata, startServer, post, stopAll } from './lib.mjs';

const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'shoal-structured-'));
const synth = path.join(tmp, 'tiny-llama3-bpe.gguf');
let srv, client;
const ajv = addFormats(new Ajv({ strict: false, allErrors: true }));

before(async () => {
	execFileSync(shoal, ['synth', '--preset', 'test-tiny', '--type', 'q8_0', '--vocab', path.join(testdata, 'vocab/ggml-vocab-llama-bpe.gguf'), '-o', synth], { stdio: 'ignore' });
	srv = await startServer(['--chat-template', path.join(testdata, 'templates/meta-llama-Llama-3.1-8B-Instruct.jinja')], { model: synth });
	client = new OpenAI({ baseURL: srv.url, apiKey: 'unused', maxRetries: 0, timeout: 120000 });
});
after(async () => {
	await stopAll([srv]);
	fs.rmSync(tmp, { recursive: true, force: true });
});

const schemas = {
	person: {
		type: 'object',
		properties: { name: { type: 'string', maxLength: 20 }, age: { type: 'integer', minimum: 18, maximum: 120 }, member: { type: 'boolean' }, role: { enum: ['admin', 'user', 'guest'] } },
		required: ['name', 'age', 'member', 'role'],
		additionalProperties: false,
	},
	order: {
		type: 'object',
		properties: {
			id: { type: 'string', format: 'uuid' },
			date: { type: 'string', format: 'date' },
			at: { type: 'string', format: 'time' },
			items: { type: 'array', minItems: 1, maxItems: 3, items: { type: 'object', properties: { sku: { type: 'string', maxLength: 8 }, qty: { type: 'integer', minimum: 1, maximum: 99 } }, required: ['sku', 'qty'], additionalProperties: false } },
			total: { type: 'number', minimum: 0, maximum: 1000 },
		},
		required: ['id', 'date', 'at', 'items', 'total'],
		additionalProperties: false,
	},
	union: {
		type: 'object',
		properties: { kind: { const: 'event' }, payload: { anyOf: [{ type: 'null' }, { type: 'object', properties: { code: { type: 'integer', exclusiveMinimum: 0, exclusiveMaximum: 10 } }, required: ['code'], additionalProperties: false }] } },
		required: ['kind', 'payload'],
		additionalProperties: false,
	},
	nested: {
		$defs: { point: { type: 'object', properties: { x: { type: 'number' }, y: { type: 'number' } }, required: ['x', 'y'], additionalProperties: false } },
		type: 'object',
		properties: { path: { type: 'array', items: { $ref: '#/$defs/point' }, minItems: 2, maxItems: 4 }, label: { type: ['string', 'null'], maxLength: 10 }, when: { type: 'string', format: 'date-time' } },
		required: ['path', 'label', 'when'],
		additionalProperties: false,
	},
	list: { type: 'array', items: { type: 'string', minLength: 1, maxLength: 6 }, minItems: 2, maxItems: 5 },
};

const ask = (extra) => client.chat.completions.create({ model: 'x', messages: [{ role: 'user', content: 'Answer in JSON.' }], max_tokens: 600, temperature: 1, ...extra });

test('json_schema replies parse and validate for 20 seeds x 5 schemas, whatever the weights', { timeout: 600000 }, async () => {
	let n = 0;
	for (const [name, schema] of Object.entries(schemas)) {
		const validate = ajv.compile(schema);
		for (let seed = 1; seed <= 20; seed++) {
			const r = await ask({ seed, response_format: { type: 'json_schema', json_schema: { name, schema, strict: true } } });
			const text = r.choices[0].message.content;
			assert.equal(r.choices[0].finish_reason, 'stop', `${name} seed ${seed}: ${text}`);
			let v;
			assert.doesNotThrow(() => (v = JSON.parse(text)), `${name} seed ${seed}: not JSON: ${text}`);
			assert.ok(validate(v), `${name} seed ${seed}: ${text}\n${ajv.errorsText(validate.errors)}`);
			n++;
		}
	}
	assert.equal(n, 100);
});

test('json_object replies are JSON objects, whole within max_tokens', { timeout: 300000 }, async () => {
	// the bound is the token budget (docs/architecture.md "Structured output"): a random model's
	// object ends by max_tokens at the latest, and is whole there
	const lengths = [];
	for (let seed = 1; seed <= 6; seed++) {
		const max_tokens = [3, 20, 120][seed % 3];
		const r = await ask({ seed, max_tokens, response_format: { type: 'json_object' } });
		assert.equal(r.choices[0].finish_reason, 'stop', JSON.stringify(r));
		assert.ok(r.usage.completion_tokens <= max_tokens);
		const v = JSON.parse(r.choices[0].message.content);
		assert.ok(v && typeof v === 'object' && !Array.isArray(v), r.choices[0].message.content);
		lengths.push(r.choices[0].message.content.length);
	}
	assert.ok(Math.max(...lengths) > 2, `not only {}: ${lengths}`);
});

const tools = [
	{ type: 'function', function: { name: 'get_weather', parameters: { type: 'object', properties: { location: { type: 'string', maxLength: 24 }, unit: { enum: ['c', 'f'] }, days: { type: 'integer', minimum: 1, maximum: 7 } }, required: ['location', 'unit', 'days'], additionalProperties: false } } },
	{ type: 'function', function: { name: 'get_time', parameters: { type: 'object', properties: { timezone: { type: 'string', maxLength: 16 } }, required: ['timezone'], additionalProperties: false } } },
];
const paramsOf = Object.fromEntries(tools.map((t) => [t.function.name, ajv.compile(t.function.parameters)]));

test('a required or named tool_choice gives a call whose arguments match the tool\'s parameters', { timeout: 120000 }, async () => {
	for (let seed = 1; seed <= 10; seed++) {
		for (const tool_choice of ['required', { type: 'function', function: { name: 'get_time' } }]) {
			const r = await ask({ seed, tools, tool_choice });
			const m = r.choices[0].message;
			assert.equal(r.choices[0].finish_reason, 'tool_calls', JSON.stringify(r));
			assert.equal(m.tool_calls.length, 1);
			const call = m.tool_calls[0];
			assert.match(call.id, /^call_[0-9a-f]{24}$/);
			if (typeof tool_choice === 'object') assert.equal(call.function.name, 'get_time');
			const args = JSON.parse(call.function.arguments);
			assert.ok(paramsOf[call.function.name](args), `${call.function.name}(${call.function.arguments}): ${ajv.errorsText(paramsOf[call.function.name].errors)}`);
		}
	}
});

test('streamed tool-call deltas reassemble to the whole answer', { timeout: 120000 }, async () => {
	for (let seed = 1; seed <= 5; seed++) {
		const body = { seed, tools, tool_choice: 'required' };
		const whole = (await ask(body)).choices[0].message.tool_calls;
		const calls = [];
		let finish = null;
		for await (const c of await ask({ ...body, stream: true })) {
			for (const d of c.choices[0]?.delta?.tool_calls || []) {
				calls[d.index] ??= { id: '', type: 'function', function: { name: '', arguments: '' } };
				const t = calls[d.index];
				t.id += d.id || '';
				t.function.name += d.function?.name || '';
				t.function.arguments += d.function?.arguments || '';
			}
			finish = c.choices[0]?.finish_reason || finish;
		}
		assert.equal(finish, 'tool_calls');
		assert.deepEqual(calls.map((c) => [c.function.name, JSON.parse(c.function.arguments)]), whole.map((c) => [c.function.name, JSON.parse(c.function.arguments)]));
		assert.ok(calls.every((c) => /^call_[0-9a-f]{24}$/.test(c.id)));
	}
});

test('a schema keyword that cannot be enforced is a 400 naming it', { timeout: 30000 }, async () => {
	const r = await post(srv.base, '/v1/chat/completions', JSON.stringify({ messages: [{ role: 'user', content: 'x' }], response_format: { type: 'json_schema', json_schema: { name: 'n', schema: { type: 'string', pattern: '^a+$' } } } }));
	assert.equal(r.status, 400);
	assert.equal(r.json.error.param, 'response_format.json_schema.schema');
	assert.match(r.json.error.message, /pattern/);
	// the shortest value of {"a": string} is {"a":""}: 8 tokens at worst, more than max_tokens 5
	const schema = { type: 'object', properties: { a: { type: 'string' } }, required: ['a'] };
	const short = await post(srv.base, '/v1/chat/completions', JSON.stringify({ messages: [{ role: 'user', content: 'x' }], max_tokens: 5, response_format: { type: 'json_schema', json_schema: { name: 'n', schema } } }));
	assert.equal(short.status, 400, short.text);
	assert.equal(short.json.error.param, 'max_tokens');
	assert.match(short.json.error.message, /takes 8 tokens, more than the 5/);
	const fits = await ask({ seed: 1, max_tokens: 8, response_format: { type: 'json_schema', json_schema: { name: 'n', schema } } });
	assert.equal(typeof JSON.parse(fits.choices[0].message.content).a, 'string', 'a budget of the minimum fits a value');
	assert.equal(fits.choices[0].finish_reason, 'stop');
	assert.ok(fits.usage.completion_tokens <= 8);
});
