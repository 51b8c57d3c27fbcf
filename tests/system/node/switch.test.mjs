// switch.test.mjs - POST /api/shoal/switch (docs/web.md) on real `shoal run` processes: the requests
// it refuses; a node alone switching to a synthesized model and back (the stream's lines, the API
// naming the new model, the old file unmapped); a stream on the old model that ends normally while
// the switch waits for it; a 3-node loopback cluster switching from any node (every node serves the
// new model with the same ids, its layers split, greedy output equal to one node's, the old model
// unmapped everywhere); a model too big for the cluster (the plan's needed against available, the
// old model serving on); and a cluster switching to a hub reference no node holds, with each node's
// bytes by source in the progress lines and the file crossing the hub's wire once.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { shoal, model, startServer, startCluster, startHub, waitPlan, topology, post, sleep, stopAll } from './lib.mjs';

const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'shoal-switch-'));
const tiny = path.join(tmp, 'tiny-Q8_0.gguf'); // test-tiny: 4 layers, dim 256, random weights
const mid = path.join(tmp, 'mid-Q8_0.gguf'); // test-mid: 8 layers, dim 1024
const synth = (preset, out) =>
	execFileSync(shoal, ['synth', '--preset', preset, '--type', 'q8_0', '--vocab', model, '-o', out], { stdio: 'ignore' });

before(() => {
	synth('test-tiny', tiny);
	synth('test-mid', mid);
});

after(() => fs.rmSync(tmp, { recursive: true, force: true }));

const switchTo = (base, body) =>
	fetch(`${base}/api/shoal/switch`, { method: 'POST', body: typeof body === 'string' ? body : JSON.stringify(body) });
const lines = async (res) => (await res.text()).split('\n').filter(Boolean).map((l) => JSON.parse(l));
const served = async (base) => (await (await fetch(`${base}/v1/models`)).json()).data.map((m) => m.id);
// the asked node answers success once it serves the new model; the others hand it to their APIs on
// their own next check (docs/web.md), so a test waits until each lists it
const waitServed = async (base, id, timeoutMs = 5000) => {
	const t0 = Date.now();
	while ((await served(base))[0] !== id && Date.now() - t0 < timeoutMs) await sleep(20);
	assert.deepEqual(await served(base), [id], `${base} serves ${id}`);
};
const mapped = (proc, file) => fs.readFileSync(`/proc/${proc.pid}/maps`, 'utf8').includes(file);
const complete = async (base, prompt, n) => {
	const r = await post(base, '/v1/completions', JSON.stringify({ prompt, max_tokens: n, temperature: 0 }));
	assert.equal(r.status, 200, r.text);
	return r.json;
};

// the switch's lines: switching ... then success (or the error), each a JSON object
function checkLines(ls, model) {
	assert.ok(ls.length >= 2, JSON.stringify(ls));
	for (const l of ls.slice(0, -1)) {
		assert.equal(l.status, 'switching', JSON.stringify(l));
		assert.equal(l.model, model);
		assert.equal(typeof l.message, 'string');
	}
	return ls[ls.length - 1];
}

test('POST /api/shoal/switch refuses what is not a switch, with a reason', { timeout: 120000 }, async () => {
	const srv = await startServer();
	try {
		for (const body of ['', 'nope', '[]', '{}', '{"model": 7}', '{"model": ""}', '{"model": "x", "stream": "yes"}']) {
			const res = await switchTo(srv.base, body);
			assert.equal(res.status, 400, body);
			assert.match((await res.json()).error, /"model"/, body);
		}
		const res = await switchTo(srv.base, { model: 'not a model' });
		assert.equal(res.status, 400);
		assert.match((await res.json()).error, /neither a file of this node nor a model reference/);
		const long = await switchTo(srv.base, { model: 'x'.repeat(1025) });
		assert.equal(long.status, 400);
		const get = await fetch(`${srv.base}/api/shoal/switch`);
		assert.equal(get.status, 405);
		assert.deepEqual(await served(srv.base), ['stories260K']);
	} finally {
		await srv.stop();
	}
});

test('a node alone switches to another model and back: progress, then success; the old file is let go', { timeout: 120000 }, async () => {
	const srv = await startServer();
	try {
		const ls = await lines(await switchTo(srv.base, { model: tiny }));
		assert.deepEqual(checkLines(ls, tiny), { status: 'success', model: 'tiny-Q8_0' });
		assert.deepEqual(await served(srv.base), ['tiny-Q8_0']);
		const c = await complete(srv.base, 'Once upon', 4);
		assert.equal(c.model, 'tiny-Q8_0');
		const ui = await (await fetch(`${srv.base}/api/shoal/models`)).json();
		assert.deepEqual([ui.served.id, ui.served.n_layers], ['tiny-Q8_0', 4]);
		assert.ok(mapped(srv.proc, tiny) && !mapped(srv.proc, model), 'the new model mapped, the old one not');
		// the model served already: success at once; without a stream, the last line alone
		const again = await switchTo(srv.base, { model: tiny, stream: false });
		assert.equal(again.status, 200);
		assert.deepEqual(await again.json(), { status: 'success', model: 'tiny-Q8_0' });
		const back = await lines(await switchTo(srv.base, { model }));
		assert.equal(checkLines(back, model).model, 'stories260K');
		assert.deepEqual(await served(srv.base), ['stories260K']);
		assert.ok(!mapped(srv.proc, tiny));
		assert.match(srv.log(), /switch: tiny-Q8_0 released/);
	} finally {
		await srv.stop();
	}
});

test('a stream on the old model ends normally; the switch ends after it, and a second switch waits', { timeout: 120000 }, async () => {
	const srv = await startServer(['-c', '2048'], { model: tiny });
	try {
		const stream = await fetch(`${srv.url}/completions`, {
			method: 'POST',
			body: JSON.stringify({ prompt: 'Once', max_tokens: 1800, temperature: 0, stream: true }),
		});
		const reader = stream.body.getReader();
		await reader.read(); // the stream runs
		const sw = switchTo(srv.base, { model }).then(async (r) => ({ ls: await lines(r), t: Date.now() }));
		const busy = await switchTo(srv.base, { model: mid });
		assert.equal(busy.status, 409);
		assert.match((await busy.json()).error, /a switch to .* runs/);
		let text = '';
		for (;;) {
			const { done, value } = await reader.read();
			if (done) break;
			text += new TextDecoder().decode(value);
		}
		const tEnd = Date.now();
		assert.doesNotMatch(text, /"error"/);
		assert.match(text, /"finish_reason":"length"/);
		assert.match(text, /"model":"tiny-Q8_0"/);
		const { ls, t } = await sw;
		assert.equal(checkLines(ls, model).status, 'success');
		assert.ok(t >= tEnd - 50, 'the switch ended after the stream on the old model');
		assert.deepEqual(await served(srv.base), ['stories260K']);
	} finally {
		await srv.stop();
	}
});

test('a 3-node cluster switches from any node: every node serves the new model, split, the old one gone', { timeout: 120000 }, async () => {
	const nodes = await startCluster(3);
	const alone = await startServer([], { model: tiny });
	try {
		const before = await waitPlan(nodes, 3);
		const ids = before.nodes.map((n) => n.id).sort();
		const ls = await lines(await switchTo(nodes[1].base, { model: tiny }));
		const last = checkLines(ls, tiny);
		assert.deepEqual(last, { status: 'success', model: 'tiny-Q8_0' });
		assert.ok(ls.some((l) => l.nodes?.length === 3), 'the progress names the new model\'s nodes');
		const t = await waitPlan(nodes, 3);
		assert.equal(t.plan.n_layers, 4);
		assert.match(t.model, /:tiny-Q8_0\.gguf$/);
		assert.deepEqual(t.nodes.map((n) => n.id).sort(), ids, 'the nodes keep their ids');
		const want = (await complete(alone.base, 'Once upon a time', 12)).choices[0].text;
		for (const n of nodes) {
			await waitServed(n.base, 'tiny-Q8_0');
			assert.equal((await complete(n.base, 'Once upon a time', 12)).choices[0].text, want, 'as one node');
		}
		for (const n of nodes) assert.ok(!mapped(n.proc, model), 'the old model is let go on every node');
	} finally {
		await stopAll([alone, ...nodes]);
	}
});

test('a model too big for the cluster: the plan\'s needed against available, and the old model serves on', { timeout: 120000 }, async () => {
	// stories260K needs ~12 MB here, test-mid ~70 MB: 3 x 12 MiB holds the one, not the other
	const nodes = await startCluster(3, ['--memory-limit', '12M']);
	try {
		await waitPlan(nodes, 3);
		const ls = await lines(await switchTo(nodes[0].base, { model: mid }));
		const last = checkLines(ls, mid);
		assert.match(last.error, /does not fit the cluster: it needs \d+ bytes .* the cluster has \d+ bytes .* on 3 nodes/);
		const t = await waitPlan(nodes, 3);
		assert.match(t.model, /stories260K/);
		for (const n of nodes) {
			assert.deepEqual(await served(n.base), ['stories260K']);
			assert.equal((await complete(n.base, 'Once', 4)).model, 'stories260K');
		}
		// each node undoes its own switch once it sees the plan fail
		const t0 = Date.now();
		while (nodes.some((n) => mapped(n.proc, mid)) && Date.now() - t0 < 5000) await sleep(100);
		for (const n of nodes) assert.ok(!mapped(n.proc, mid), `the new model is let go again:\n${n.log()}`);
	} finally {
		await stopAll(nodes);
	}
});

test('a cluster switches to a hub reference no node holds: bytes per node by source, the hub sends it once', { timeout: 120000 }, async () => {
	const root = path.join(tmp, 'hub');
	fs.mkdirSync(path.join(root, 'test-org', 'mid-GGUF'), { recursive: true });
	const file = 'test-org/mid-GGUF/mid-Q8_0.gguf';
	fs.copyFileSync(mid, path.join(root, file));
	const hub = await startHub(root);
	const nodes = await startCluster(3, [], {
		env: { HF_ENDPOINT: hub.url, HF_TOKEN: '' },
		envOf: (i) => ({ HF_HUB_CACHE: path.join(tmp, `cache-${i}`) }),
	});
	try {
		await waitPlan(nodes, 3);
		const ref = 'test-org/mid-GGUF:Q8_0';
		const ls = await lines(await switchTo(nodes[2].base, { model: ref }));
		assert.deepEqual(checkLines(ls, ref), { status: 'success', model: ref }, nodes.map((n) => n.log()).join('\n----\n'));
		const withShares = ls.filter((l) => l.nodes?.length === 3 && l.nodes.every((n) => 'from_hub' in n && 'from_peers' in n));
		assert.ok(withShares.length, `no line with every node's bytes by source: ${JSON.stringify(ls.slice(-3))}`);
		const size = fs.statSync(mid).size;
		const hubBytes = (await hub.stats()).bytes[file] || 0;
		assert.ok(hubBytes < 1.1 * size, `the hub sent ${hubBytes} bytes of a ${size}-byte file`);
		const t = await topology(nodes[0]);
		assert.equal(t.nodes.filter((n) => n.layers).length, 3);
		for (const n of nodes) {
			await waitServed(n.base, ref);
			const r = await post(n.base, '/v1/completions', JSON.stringify({ prompt: 'Once', max_tokens: 4, temperature: 0 }));
			assert.equal(r.status, 200, `${r.text}\n${nodes.map((m) => m.log()).join('\n----\n')}`);
			assert.equal(r.json.model, ref);
		}
	} finally {
		hub.stop();
		await stopAll(nodes);
	}
});
