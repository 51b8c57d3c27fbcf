// lib.mjs - shared helpers of the API system tests: start a real `shoal run` on stories260K on a
// free port (--port 0: the kernel picks it, the server logs it, so parallel runs never collide),
// wait until /health answers, read /metrics, stop it with SIGTERM and check it exits cleanly.
import { spawn, execFileSync } from 'node:child_process';
import net from 'node:net';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import assert from 'node:assert/strict';

const here = path.dirname(fileURLToPath(import.meta.url));
export const repo = path.resolve(here, '../../..');
export const shoal = path.resolve(repo, process.env.SHOAL || 'build/shoal');
export const testdata = path.resolve(repo, process.env.TESTDATA || 'tests/data');
export const model = path.resolve(repo, process.env.STORIES || 'models/stories260K.gguf');

export async function startServer(args = [], { env = {}, model: m = model } = {}) {
	const proc = spawn(shoal, ['run', '-m', m, '--host', '127.0.0.1', '--port', '0', '-t', '1', '--no-discovery', ...args], {
		stdio: ['ignore', 'ignore', 'pipe'],
		env: { ...process.env, ...env },
	});
	let log = '';
	const exited = new Promise((resolve) => proc.on('exit', (code, signal) => resolve({ code, signal })));
	const port = await new Promise((resolve, reject) => {
		const timer = setTimeout(() => reject(new Error(`server did not start:\n${log}`)), 30000);
		proc.stderr.on('data', (d) => {
			log += d;
			const m = log.match(/http:\/\/[^ ]*:(\d+)\/v1/);
			if (m) {
				clearTimeout(timer);
				resolve(Number(m[1]));
			}
		});
		exited.then(({ code }) => reject(new Error(`server exited (${code}) before listening:\n${log}`)));
	});
	const base = `http://127.0.0.1:${port}`;
	for (let i = 0; i < 100; i++) {
		try {
			if ((await fetch(`${base}/health`)).status === 200) break;
		} catch {}
		await sleep(50);
	}
	return {
		port,
		base,
		url: `${base}/v1`,
		proc,
		log: () => log,
		// SIGTERM, then the process must be gone with status 0 within timeoutMs
		async stop(timeoutMs = 15000) {
			proc.kill('SIGTERM');
			let timer;
			const r = await Promise.race([exited, new Promise((res) => (timer = setTimeout(() => res(null), timeoutMs)))]);
			clearTimeout(timer);
			if (!r) {
				proc.kill('SIGKILL');
				assert.fail(`server did not stop within ${timeoutMs} ms:\n${log}`);
			}
			assert.equal(r.code, 0, `server exit status ${r.code} (${r.signal}):\n${log}`);
			assert.doesNotMatch(log, /AddressSanitizer|runtime error|assertion failed/, log);
		},
	};
}

export function sleep(ms) {
	return new Promise((r) => setTimeout(r, ms));
}

// /metrics as {name or name{labels}: number}
export async function metrics(base) {
	const res = await fetch(`${base}/metrics`);
	assert.equal(res.status, 200);
	assert.match(res.headers.get('content-type'), /^text\/plain/);
	const out = {};
	for (const line of (await res.text()).split('\n')) {
		if (!line || line.startsWith('#')) continue;
		const i = line.lastIndexOf(' ');
		out[line.slice(0, i)] = Number(line.slice(i + 1));
	}
	return out;
}

// polls until pred(metrics) holds; returns the last metrics or fails after timeoutMs
export async function waitMetrics(base, pred, timeoutMs = 5000, what = 'condition') {
	const t0 = Date.now();
	let m;
	while (Date.now() - t0 < timeoutMs) {
		m = await metrics(base);
		if (pred(m)) return m;
		await sleep(20);
	}
	assert.fail(`metrics: ${what} not reached in ${timeoutMs} ms: ${JSON.stringify(m)}`);
}

// `shoal generate` with the same prompt, greedy
export function generate(prompt, n) {
	return execFileSync(shoal, ['generate', '-m', model, '-p', prompt, '-n', String(n), '--temp', '0', '-t', '1'], {
		stdio: ['ignore', 'pipe', 'ignore'],
	}).toString();
}

// a POST with a raw body; returns {status, headers, json (or null), text}
export async function post(base, route, body, headers = {}) {
	const res = await fetch(base + route, {
		method: 'POST',
		headers: { 'content-type': 'application/json', ...headers },
		body,
	});
	const text = await res.text();
	let json = null;
	try {
		json = JSON.parse(text);
	} catch {}
	return { status: res.status, headers: res.headers, json, text };
}

// the hub stand-in on root (DIR/ORG/REPO/files): {url, proc, faults(f), reset(), stats(), stop()}
export async function startHub(root, args = []) {
	const proc = spawn(process.execPath, [path.join(repo, 'tests/system/hub/hub.mjs'), '--root', root, '--port', '0', ...args], {
		stdio: ['ignore', 'pipe', 'inherit'],
	});
	const url = await new Promise((resolve, reject) => {
		let out = '';
		const timer = setTimeout(() => reject(new Error(`hub stand-in did not start: ${out}`)), 10000);
		proc.stdout.on('data', (d) => {
			out += d;
			const m = out.match(/hub listening on (http:\/\/\S+)/);
			if (m) {
				clearTimeout(timer);
				resolve(m[1]);
			}
		});
		proc.on('exit', (code) => reject(new Error(`hub stand-in exited (${code}): ${out}`)));
	});
	return {
		url,
		proc,
		faults: (f) => fetch(`${url}/__faults`, { method: 'POST', body: JSON.stringify(f) }).then((r) => assert.equal(r.status, 200)),
		reset: () => fetch(`${url}/__reset`, { method: 'POST' }),
		stats: () => fetch(`${url}/__stats`).then((r) => r.json()),
		stop: () => proc.kill(),
	};
}

// a TCP port free on 127.0.0.1 now (the kernel's pick; another process may take it before it is
// used, so the callers retry a start that fails)
export function freePort() {
	return new Promise((resolve, reject) => {
		const s = net.createServer();
		s.on('error', reject);
		s.listen(0, '127.0.0.1', () => {
			const p = s.address().port;
			s.close(() => resolve(p));
		});
	});
}

// n nodes on loopback that all list each other in --peers: [{...startServer's, nodePort}]. A node
// port taken meanwhile makes that node exit: the whole cluster is started again on other ports
// (envOf(i): more environment for node i, e.g. a cache of its own)
export async function startCluster(n, args = [], { env = {}, envOf = () => ({}), attempts = 3 } = {}) {
	let last;
	for (let a = 0; a < attempts; a++) {
		const ports = [];
		while (ports.length < n) {
			const p = await freePort();
			if (!ports.includes(p)) ports.push(p);
		}
		const started = await Promise.allSettled(
			ports.map((p, i) => {
				const peers = ports.filter((_, j) => j !== i).map((q) => `127.0.0.1:${q}`).join(',');
				return startServer(['--node-port', String(p), '--peers', peers, ...args], { env: { ...env, ...envOf(i) } }).then((s) => ({ ...s, nodePort: p }));
			}),
		);
		if (started.every((r) => r.status === 'fulfilled')) return started.map((r) => r.value);
		last = started.find((r) => r.status === 'rejected').reason;
		for (const r of started) if (r.status === 'fulfilled') r.value.proc.kill('SIGKILL');
	}
	throw last;
}

export async function topology(node, key) {
	const res = await fetch(`${node.url}/topology`, { headers: key ? { authorization: `Bearer ${key}` } : {} });
	assert.equal(res.status, 200, `GET /v1/topology: ${res.status}`);
	return res.json();
}

// every node of nodes sees want nodes alive with layers, one epoch, no plan pending; returns the
// topology of the first
export async function waitPlan(nodes, want, timeoutMs = 20000) {
	const t0 = Date.now();
	let seen;
	while (Date.now() - t0 < timeoutMs) {
		try {
			const ts = await Promise.all(nodes.map((n) => topology(n)));
			seen = ts.map((t) => ({ epoch: t.plan.epoch, pending: t.plan.pending, nodes: t.nodes.map((x) => [x.state, x.layers]) }));
			const ok = ts.every((t) => t.plan.epoch && !t.plan.pending && t.nodes.filter((x) => x.state !== 'dead' && x.layers).length === want);
			if (ok && new Set(ts.map((t) => t.plan.epoch)).size === 1) return ts[0];
		} catch {}
		await sleep(100);
	}
	assert.fail(`the nodes did not agree on a plan of ${want} nodes in ${timeoutMs} ms: ${JSON.stringify(seen)}`);
}

// stops every server of list (each as startServer's stop does), all of them even when one fails;
// then fails with the first failure
export async function stopAll(list) {
	const rs = await Promise.allSettled(list.filter(Boolean).map((n) => n.stop()));
	const bad = rs.find((r) => r.status === 'rejected');
	if (bad) throw bad.reason;
}
