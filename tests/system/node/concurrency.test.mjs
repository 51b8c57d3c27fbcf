// concurrency.test.mjs - slots, batching, the queue and disconnects on a real `shoal run`:
// 8 concurrent streams on 4 slots all complete (advanced by batched steps, the rest queued);
// a client that leaves mid-stream (or while waiting for a non-streamed answer, or while queued)
// frees its slot at once; a full queue answers 503; SIGTERM ends streams in flight and exits 0.
// The batching test runs on test-mid in Q4_K (random weights, a few ms a step; its gemm adds in
// vec_dot's order, so batched greedy text equals the text alone): on stories260K a step takes a
// tenth of a millisecond, so on a loaded machine a stream could finish before the next one arrives.
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import OpenAI from 'openai';
import { shoal, model, startServer, metrics, waitMetrics, post, sleep } from './lib.mjs';

const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'shoal-concurrency-'));
after(() => fs.rmSync(tmp, { recursive: true, force: true }));

const LONG = 60000; // tokens: far more than a test waits for (the context is set large enough)

// reads an SSE response until pred(text so far) holds, then aborts the connection
async function streamThenAbort(base, body, pred = (t) => t.includes('"text"')) {
	const ac = new AbortController();
	const res = await fetch(`${base}/v1/completions`, {
		method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ ...body, stream: true }), signal: ac.signal,
	});
	assert.equal(res.status, 200);
	const reader = res.body.getReader();
	let text = '';
	while (!pred(text)) {
		const { value, done } = await reader.read();
		assert.ok(!done, 'stream ended before the abort');
		text += Buffer.from(value).toString();
	}
	ac.abort();
	return text;
}

test('8 concurrent streaming clients on 4 slots all complete, in batched steps', async () => {
	const mid = path.join(tmp, 'mid-Q4_K_M.gguf');
	execFileSync(shoal, ['synth', '--preset', 'test-mid', '--type', 'q4_k', '--vocab', model, '-o', mid], { stdio: 'ignore' });
	const srv = await startServer(['--parallel', '4'], { model: mid });
	try {
		const client = new OpenAI({ baseURL: srv.url, apiKey: 'x', maxRetries: 0 });
		const prompts = ['Once', 'Zoo', 'The cat', 'Lily', 'A dog', 'Tom', 'The sun', 'Mom'];
		// greedy answers one at a time, for comparison
		const alone = [];
		for (const p of prompts)
			alone.push((await client.completions.create({ model: 'x', prompt: p, max_tokens: 64, temperature: 0, ignore_eos: true })).choices[0].text);
		const before = await metrics(srv.base);
		let maxQueued = 0, maxActive = 0, polling = true;
		const poller = (async () => {
			while (polling) {
				const m = await metrics(srv.base);
				maxQueued = Math.max(maxQueued, m.shoal_queue_depth);
				maxActive = Math.max(maxActive, m.shoal_slots_active);
				await sleep(2);
			}
		})();
		const results = await Promise.all(prompts.map(async (p, i) => {
			const stream = await client.completions.create({
				model: 'x', prompt: p, max_tokens: i % 2 ? 200 : 64, temperature: 0, ignore_eos: true, stream: true,
				stream_options: { include_usage: true },
			});
			let text = '', usage = null, finish = null, chunks = 0;
			for await (const c of stream) {
				if (c.usage) usage = c.usage;
				if (c.choices[0]) {
					text += c.choices[0].text;
					finish = c.choices[0].finish_reason ?? finish;
					chunks++;
				}
			}
			return { text, usage, finish, chunks };
		}));
		polling = false;
		await poller;
		results.forEach((r, i) => {
			assert.equal(r.finish, 'length', `client ${i}`);
			assert.equal(r.usage.completion_tokens, i % 2 ? 200 : 64, `client ${i}`);
			assert.ok(r.text.length > 50, `client ${i}`);
			// greedy text of a batched sequence starts as the text of the sequence alone
			if (i % 2 === 0) assert.equal(r.text, alone[i], `client ${i}: batched text differs from alone`);
			else assert.ok(r.text.startsWith(alone[i].slice(0, 40)), `client ${i}: batched text does not start as alone`);
		});
		const after = await metrics(srv.base);
		const steps = after.shoal_steps_total - before.shoal_steps_total;
		const batched = after.shoal_steps_batched_total - before.shoal_steps_batched_total;
		const tokens = after.shoal_generated_tokens_total - before.shoal_generated_tokens_total;
		assert.equal(tokens, 4 * 64 + 4 * 200);
		assert.ok(batched > steps / 2, `most steps advance several sequences (${batched} of ${steps})`);
		assert.ok(steps < tokens / 2, `batched, not one sequence after another (${steps} steps for ${tokens} tokens)`);
		assert.ok(maxActive <= 4, `at most 4 slots active (${maxActive})`);
		assert.equal(after.shoal_slots_active, 0);
		assert.equal(after.shoal_queue_depth, 0);
	} finally {
		await srv.stop();
	}
});

test('a client disconnecting mid-stream frees its slot at once', async () => {
	const srv = await startServer(['--parallel', '2', '-c', '65536']);
	try {
		await streamThenAbort(srv.base, { prompt: 'Once', max_tokens: LONG, ignore_eos: true });
		const t0 = Date.now();
		const m = await waitMetrics(srv.base, (m) => m.shoal_slots_active === 0, 2000, 'slot freed after disconnect');
		const freedMs = Date.now() - t0;
		assert.ok(m.shoal_generated_tokens_total < LONG / 2, `generation stopped (${m.shoal_generated_tokens_total} tokens)`);
		await sleep(200);
		const m2 = await metrics(srv.base);
		assert.equal(m2.shoal_generated_tokens_total, m.shoal_generated_tokens_total, 'no tokens after the slot was freed');
		assert.ok(freedMs < 1000, `freed in ${freedMs} ms`);

		// a chat stream, aborted by the openai client
		const client = new OpenAI({ baseURL: srv.url, apiKey: 'x', maxRetries: 0 });
		const stream = await client.chat.completions.create({
			model: 'x', messages: [{ role: 'user', content: 'Hi' }], max_tokens: LONG, ignore_eos: true, stream: true,
		});
		let n = 0;
		for await (const c of stream) if (c.choices[0]?.delta?.content && ++n >= 3) break; // break aborts the request
		await waitMetrics(srv.base, (m) => m.shoal_slots_active === 0, 2000, 'slot freed after the chat stream was dropped');

		// a non-streaming request whose client gives up
		const ac = new AbortController();
		const pending = fetch(`${srv.base}/v1/completions`, {
			method: 'POST', body: JSON.stringify({ prompt: 'Zoo', max_tokens: LONG, ignore_eos: true }), signal: ac.signal,
		}).catch((e) => e);
		await waitMetrics(srv.base, (m) => m.shoal_slots_active === 1, 2000, 'non-streaming request running');
		ac.abort();
		await pending;
		await waitMetrics(srv.base, (m) => m.shoal_slots_active === 0, 2000, 'slot freed after the non-streaming client left');

		// and the server still answers
		const r = await post(srv.base, '/v1/completions', JSON.stringify({ prompt: 'Zoo', max_tokens: 5 }));
		assert.equal(r.status, 200);
	} finally {
		await srv.stop();
	}
});

test('a full queue answers 503; a queued client that leaves is dropped', async () => {
	const srv = await startServer(['--parallel', '1', '--queue', '1', '-c', '65536']);
	try {
		const body = { prompt: 'Once', max_tokens: LONG, ignore_eos: true, stream: true };
		const ac1 = new AbortController(), ac2 = new AbortController();
		const r1 = await fetch(`${srv.base}/v1/completions`, { method: 'POST', body: JSON.stringify(body), signal: ac1.signal });
		assert.equal(r1.status, 200);
		const r2p = fetch(`${srv.base}/v1/completions`, { method: 'POST', body: JSON.stringify(body), signal: ac2.signal });
		await waitMetrics(srv.base, (m) => m.shoal_slots_active === 1 && m.shoal_queue_depth === 1, 3000, 'one active, one queued');
		const r3 = await post(srv.base, '/v1/completions', JSON.stringify({ prompt: 'Zoo', max_tokens: 5 }));
		assert.equal(r3.status, 503);
		assert.equal(r3.json.error.code, 'server_busy');
		assert.equal(r3.json.error.type, 'server_error');
		assert.equal(r3.headers.get('retry-after'), '1');
		// the openai client sees it as an APIError with status 503
		const client = new OpenAI({ baseURL: srv.url, apiKey: 'x', maxRetries: 0 });
		await assert.rejects(client.completions.create({ model: 'x', prompt: 'Zoo', max_tokens: 5 }), (e) => e.status === 503);
		// the queued client leaves: the queue empties while the first one keeps its slot
		const r2 = await r2p;
		assert.equal(r2.status, 200);
		ac2.abort();
		await waitMetrics(srv.base, (m) => m.shoal_queue_depth === 0 && m.shoal_slots_active === 1, 2000, 'queued request dropped');
		ac1.abort();
		await waitMetrics(srv.base, (m) => m.shoal_slots_active === 0, 2000, 'slot freed');
		const m = await metrics(srv.base);
		assert.equal(m['shoal_http_requests_total{code="503"}'], 2);
		const ok = await post(srv.base, '/v1/completions', JSON.stringify({ prompt: 'Zoo', max_tokens: 5 }));
		assert.equal(ok.status, 200);
	} finally {
		await srv.stop();
	}
});

test('SIGTERM ends streams in flight and the server exits 0', async () => {
	const srv = await startServer(['-c', '65536']);
	const res = await fetch(`${srv.base}/v1/completions`, {
		method: 'POST', body: JSON.stringify({ prompt: 'Once', max_tokens: LONG, ignore_eos: true, stream: true }),
	});
	assert.equal(res.status, 200);
	const reader = res.body.getReader();
	await reader.read();
	const t0 = Date.now();
	await srv.stop(5000);
	assert.ok(Date.now() - t0 < 5000);
	let text = '';
	try {
		for (;;) {
			const { value, done } = await reader.read();
			if (done) break;
			text += Buffer.from(value).toString();
		}
	} catch {}
	// the stream ended early: an error event (the server is stopping) or a cut connection, never a normal finish
	assert.doesNotMatch(text, /"finish_reason":"length"/);
});
