// cluster_bench.mjs - the pipeline's speed against one node, in one run:
//   1. single-stream generation tok/s of clusters of N = 1, 2, 3, 4 local nodes (loopback), each
//      node `shoal run -t 1`, as a ratio of one plain node `shoal run -t 1` (no cluster); the
//      target is >= 0.95. Fair on 2 cores: one stream keeps one node busy at a time (the others
//      wait for their turn in the ring), so every configuration has one core computing, and the
//      ratio shows what the hops cost. Measured twice: with every process of the configuration
//      pinned to one core (taskset; the plain node too), which is the pipeline's own cost, as on
//      real machines with one node each; and unpinned, where the kernel moves the turn-taking
//      nodes between this VM's two vCPUs (hundreds of migrations per 64 tokens against tens for
//      one node) and each hand-over lands on a core that was idle - a cost of co-locating nodes on
//      one small VM, not of the pipeline;
//   2. the per-hop latency: PING round trips of every link (/v1/topology rtt_ms), median;
//   3. aggregate tok/s of 4 concurrent streams (--parallel 4) per configuration.
// All configurations run at once; interleaved rounds, medians.
// Usage: node bench/cluster_bench.mjs MODEL [N_GEN] [REPEATS] [MAX_NODES] [AGG_REPEATS]
import { spawn, spawnSync } from 'node:child_process';
import net from 'node:net';
import os from 'node:os';
import { median, now, stream } from './lib.mjs';

const [model, nGenArg = '64', repArg = '5', maxArg = '4', aggArg = '3'] = process.argv.slice(2);
if (!model) {
	console.error('usage: node bench/cluster_bench.mjs MODEL [N_GEN] [REPEATS] [MAX_NODES] [AGG_REPEATS]');
	process.exit(2);
}
const shoal = process.env.SHOAL || 'build/shoal';
const wire = process.env.WIRE || 'f32';
const nGen = Number(nGenArg), reps = Number(repArg), maxNodes = Number(maxArg), aggReps = Number(aggArg);
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

function freePort() {
	return new Promise((resolve) => {
		const s = net.createServer();
		s.listen(0, '127.0.0.1', () => {
			const p = s.address().port;
			s.close(() => resolve(p));
		});
	});
}

function startNode(args) {
	const proc = spawn(shoal, ['run', '-m', model, '--host', '127.0.0.1', '--port', '0', '-t', '1', '--parallel', '4', '--no-discovery', ...args], {
		stdio: ['ignore', 'ignore', 'pipe'],
	});
	let log = '';
	const port = new Promise((resolve, reject) => {
		proc.stderr.on('data', (d) => {
			log += d;
			const m = log.match(/http:\/\/[^ ]*:(\d+)\/v1/);
			if (m) resolve(Number(m[1]));
		});
		proc.on('exit', (c) => reject(new Error(`node exited ${c}: ${log}`)));
	});
	return { proc, port };
}

// n == 0: one plain node; else n cluster nodes that list each other
async function startConfig(n) {
	if (n === 0) {
		const nd = startNode([]);
		return { procs: [nd.proc], bases: [`http://127.0.0.1:${await nd.port}`] };
	}
	const ports = [];
	for (let i = 0; i < n; i++) ports.push(await freePort());
	const nodes = ports.map((p, i) =>
		startNode(['--node-port', String(p), '--wire', wire, ...(n > 1 ? ['--peers', ports.filter((_, j) => j !== i).map((q) => `127.0.0.1:${q}`).join(',')] : [])]));
	const bases = [];
	for (const nd of nodes) bases.push(`http://127.0.0.1:${await nd.port}`);
	const procs = nodes.map((nd) => nd.proc);
	for (let k = 0; k < 200; k++) { // the plan agreed by every node
		const ts = await Promise.all(bases.map((b) => fetch(`${b}/v1/topology`).then((r) => r.json())));
		const ok = ts.every((t) => t.plan.epoch !== 0 && !t.plan.pending && t.nodes.filter((x) => x.layers && x.state !== 'dead').length === n &&
			t.plan.epoch === ts[0].plan.epoch);
		if (ok) return { procs, bases, topo: ts };
		await sleep(100);
	}
	throw new Error(`cluster of ${n} did not form`);
}

const configs = [0, ...Array.from({ length: maxNodes }, (_, i) => i + 1)];
const single = Object.fromEntries(configs.map((c) => [c, []]));
const ratios = Object.fromEntries(configs.map((c) => [c, []]));
const pinned = Object.fromEntries(configs.map((c) => [c, []]));
const pinnedRatios = Object.fromEntries(configs.map((c) => [c, []]));
// every thread of the configuration's processes on CPU list cpus
const pin = (cfg, cpus) => { for (const p of cfg.procs) spawnSync('taskset', ['-a', '-p', '-c', cpus, String(p.pid)], { stdio: 'ignore' }); };
const allCpus = `0-${os.cpus().length - 1}`;
const agg = Object.fromEntries(configs.map((c) => [c, []]));
const rtts = Object.fromEntries(configs.map((c) => [c, []]));
const stories = ['Once upon a time', 'The little dog', 'In a big city', 'Tom had a red ball'];
// every configuration runs at once (idle nodes only wake for PINGs) so the measurements of one
// round are seconds apart: the ratio of each round is taken against the same round's plain node,
// which cancels most of this VM's drift (its speed wanders by +-5% over minutes)
const cfgs = {};
try {
	for (const c of configs) {
		cfgs[c] = await startConfig(c);
		await stream(cfgs[c].bases[0], 'Hello', 4); // warm-up: every node pages its weights in
	}
	for (let r = 0; r < reps; r++)
		for (const c of configs) {
			const b = cfgs[c].bases;
			pin(cfgs[c], '1');
			pinned[c].push((await stream(b[b.length - 1], stories[0], nGen)).rate);
			pinnedRatios[c].push(pinned[c][r] / pinned[0][r]);
			pin(cfgs[c], allCpus);
			single[c].push((await stream(b[b.length - 1], stories[0], nGen)).rate);
			ratios[c].push(single[c][r] / single[0][r]);
		}
	for (let r = 0; r < aggReps; r++)
		for (const c of configs) {
			const b = cfgs[c].bases;
			const t0 = now();
			const rs = await Promise.all(stories.map((s, i) => stream(b[i % b.length], s, nGen)));
			agg[c].push(rs.reduce((s, x) => s + x.nGen, 0) / (Math.max(...rs.map((x) => x.tEnd)) - t0));
		}
	for (let k = 0; k < 5; k++) { // the last PING of every link, 5 samples while idle
		await sleep(300);
		for (const c of configs.filter((c) => c > 1)) {
			const ts = await Promise.all(cfgs[c].bases.map((b) => fetch(`${b}/v1/topology`).then((x) => x.json())));
			for (const t of ts) for (const l of t.links) if (l.rtt_ms != null) rtts[c].push(l.rtt_ms);
		}
	}
} finally {
	for (const c of Object.values(cfgs)) for (const p of c.procs) p.kill('SIGKILL');
}
console.log(`model: ${model}, every node -t 1 (2 cores shared), ${nGen} generated tokens, wire ${wire}, ` +
	`${reps} interleaved rounds (4 streams: ${aggReps}), medians; ratio: median of the rounds' ratios to the plain node`);
for (const c of configs) {
	const s = median(single[c]), a = median(agg[c]);
	const name = c === 0 ? 'one node (no cluster)' : `${c} node${c > 1 ? 's' : ''} (cluster)`;
	console.log(`${name.padEnd(22)} 1 stream pinned ${median(pinned[c]).toFixed(2)} tok/s = ${median(pinnedRatios[c]).toFixed(3)}` +
		` of one node, unpinned ${s.toFixed(2)} = ${median(ratios[c]).toFixed(3)}` +
		`   4 streams ${a.toFixed(2)} tok/s` + (rtts[c].length ? `   PING rtt median ${median(rtts[c]).toFixed(3)} ms` : ''));
}
