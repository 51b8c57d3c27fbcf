// tools.test.mjs - tool calling through the official `openai` npm client against real `shoal run`
// nodes: a synthesized model served with the real Hermes 3 and Llama 3.1 tool-use templates
// (--chat-template): the prompt a request with tools and tool messages renders to is exactly what
// `shoal template --tools` renders (the prompt token counts agree); the validation of tools,
// tool_choice and tool messages; a reply without calls streams as it comes and equals the
// non-streamed one; and a required call on the Hermes template comes as its own <tool_call> text,
// which the Hermes reader turns into tool_calls.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import OpenAI from 'openai';
import { shoal, model, testdata, startServer, post, stopAll } from './lib.mjs';

const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'shoal-tools-'));
const synth = path.join(tmp, 'tiny-llama3.gguf');
const hermes = path.join(testdata, 'templates/NousResearch-Hermes-3-Llama-3.1-8B-tool_use.jinja');
const llama31 = path.join(testdata, 'templates/meta-llama-Llama-3.1-8B-Instruct.jinja');
const tools = [
	{ type: 'function', function: { name: 'get_weather', description: 'The weather', parameters: { type: 'object', properties: { location: { type: 'string' }, unit: { type: 'string', enum: ['c', 'f'] } }, required: ['location'] } } },
	{ type: 'function', function: { name: 'get_time', description: 'The time', parameters: { type: 'object', properties: { timezone: { type: 'string' } }, required: ['timezone'] } } },
];
const conversation = [
	{ role: 'user', content: 'What is the weather in Paris?' },
	{ role: 'assistant', content: null, tool_calls: [{ id: 'abc123def', type: 'function', function: { name: 'get_weather', arguments: '{"location":"Paris"}' } }] },
	{ role: 'tool', tool_call_id: 'abc123def', content: '{"temperature": 21}' },
];
let nodes = [];

before(async () => {
	execFileSync(shoal, ['synth', '--preset', 'test-tiny-llama3', '--type', 'q8_0', '--vocab', model, '-o', synth], { stdio: 'ignore' });
	nodes = await Promise.all([hermes, llama31].map((t) => startServer(['--chat-template', t], { model: synth })));
});
after(async () => {
	await stopAll(nodes);
	fs.rmSync(tmp, { recursive: true, force: true });
});

const clientOf = (n) => new OpenAI({ baseURL: n.url, apiKey: 'unused', maxRetries: 0, timeout: 60000 });

// the prompt's tokens as `shoal template --tools` renders it and `shoal tokenize` reads it (special
// tokens parsed; the BOS the template writes, and one more only when it writes none, as the server
// adds it)
function promptTokens(template, messages, withTools) {
	const m = path.join(tmp, 'messages.json'), t = path.join(tmp, 'tools.json');
	fs.writeFileSync(m, JSON.stringify(messages.map((x) => (x.tool_calls ? { ...x, tool_calls: x.tool_calls.map((c) => ({ ...c, function: { ...c.function, arguments: JSON.parse(c.function.arguments) } })) } : x))));
	fs.writeFileSync(t, JSON.stringify(tools));
	const text = execFileSync(shoal, ['template', '-m', synth, '--chat-template', template, '--messages', m, ...(withTools ? ['--tools', t] : [])]).toString();
	const f = path.join(tmp, 'prompt.txt');
	fs.writeFileSync(f, text);
	const bos = execFileSync(shoal, ['tokenize', '-m', synth, '-p', '']).toString().trim().split(/\s+/).filter(Boolean);
	const ids = execFileSync(shoal, ['tokenize', '-m', synth, '-f', f, '--parse-special', '--no-bos']).toString().trim().split(/\s+/);
	return ids.length + (bos.length && ids[0] !== bos[0] ? 1 : 0);
}

test('a request with tools and tool messages renders as `shoal template --tools` does', { timeout: 60000 }, async () => {
	for (const [n, template] of [[nodes[0], hermes], [nodes[1], llama31]]) {
		const r = await clientOf(n).chat.completions.create({ model: 'x', messages: conversation, tools, max_tokens: 1, temperature: 0 });
		const want = promptTokens(template, conversation, true);
		assert.equal(r.usage.prompt_tokens, want, `${path.basename(template)}: prompt tokens`);
		if (template === hermes) continue; // its tool-use template renders only with tools (HF's raises too)
		const none = await clientOf(n).chat.completions.create({ model: 'x', messages: [conversation[0]], tools, tool_choice: 'none', max_tokens: 1, temperature: 0 });
		const bare = await clientOf(n).chat.completions.create({ model: 'x', messages: [conversation[0]], max_tokens: 1, temperature: 0 });
		assert.equal(none.usage.prompt_tokens, bare.usage.prompt_tokens, "tool_choice 'none' gives the template no tools");
		const withTools = await clientOf(n).chat.completions.create({ model: 'x', messages: [conversation[0]], tools, max_tokens: 1, temperature: 0 });
		assert.ok(withTools.usage.prompt_tokens > bare.usage.prompt_tokens + 20, 'the tools are in the prompt');
	}
});

test('tools, tool_choice and tool messages are validated, the error naming the field', { timeout: 30000 }, async () => {
	const user = [{ role: 'user', content: 'x' }];
	const bad = [
		[{ messages: user, tools: {} }, 'tools'],
		[{ messages: user, tools: [{ type: 'retrieval' }] }, 'tools[0]'],
		[{ messages: user, tools: [{ type: 'function', function: { name: 'has space' } }] }, 'tools[0]'],
		[{ messages: user, tools: [tools[0], tools[0]] }, 'tools[1]'],
		[{ messages: user, tools, tool_choice: 'sometimes' }, 'tool_choice'],
		[{ messages: user, tools, tool_choice: { type: 'function', function: { name: 'nope' } } }, 'tool_choice'],
		[{ messages: user, tool_choice: 'required' }, 'tool_choice'],
		[{ messages: user, tools, parallel_tool_calls: 'yes' }, 'parallel_tool_calls'],
		[{ messages: [{ role: 'tool', content: 'x' }] }, 'messages[0].tool_call_id'],
		[{ messages: [{ role: 'assistant', tool_calls: [{ id: 'a', type: 'function', function: { name: 'f', arguments: 'not json' } }] }] }, 'messages[0].tool_calls[0]'],
		[{ messages: user, functions: [] }, 'functions'],
	];
	for (const [body, param] of bad) {
		const r = await post(nodes[0].base, '/v1/chat/completions', JSON.stringify(body));
		assert.equal(r.status, 400, `${JSON.stringify(body)}: ${r.text}`);
		assert.equal(r.json.error.param, param, r.text);
	}
});

test('with tools, a reply that makes no call streams as it comes and equals the whole one', { timeout: 60000 }, async () => {
	for (const n of nodes) {
		const body = { model: 'x', messages: [conversation[0]], tools, max_tokens: 24, temperature: 0 };
		const whole = await clientOf(n).chat.completions.create(body);
		let text = '', chunks = 0, calls = 0, finish = null;
		for await (const c of await clientOf(n).chat.completions.create({ ...body, stream: true })) {
			const d = c.choices[0]?.delta || {};
			if (d.content) (text += d.content), chunks++;
			calls += (d.tool_calls || []).length;
			finish = c.choices[0]?.finish_reason || finish;
		}
		assert.equal(calls, (whole.choices[0].message.tool_calls || []).length);
		assert.equal(text, whole.choices[0].message.content || '');
		assert.equal(finish, whole.choices[0].finish_reason);
		if (!calls) assert.ok(chunks > 1 || text.length < 4, 'the text came in pieces');
	}
});

test("a Hermes-template model's <tool_call> text is parsed into tool_calls", { timeout: 60000 }, async () => {
	// a required tool_choice on a Hermes-family template: the reply is constrained to the model's own
	// format, <tool_call>\n{"name", "arguments"}\n</tool_call>, which the Hermes reader turns into the call
	for (let seed = 1; seed <= 3; seed++) {
		const r = await clientOf(nodes[0]).chat.completions.create({ model: 'x', messages: [conversation[0]], tools, tool_choice: 'required', max_tokens: 800, temperature: 1, seed, logprobs: true });
		const text = Buffer.from(r.choices[0].logprobs.content.flatMap((t) => t.bytes)).toString('utf8'); // the reply's bytes
		assert.match(text, /^<tool_call>\n\{[\s\S]*\}\n<\/tool_call>$/, text);
		assert.equal(r.choices[0].finish_reason, 'tool_calls');
		assert.equal(r.choices[0].message.content, null);
		const [call] = r.choices[0].message.tool_calls;
		const inside = JSON.parse(text.slice('<tool_call>\n'.length, -'\n</tool_call>'.length));
		assert.deepEqual([call.function.name, JSON.parse(call.function.arguments)], [inside.name, inside.arguments]);
		assert.ok(['get_weather', 'get_time'].includes(call.function.name));
	}
});
