// streams_bench.mjs - aggregate tok/s of 4 and 8 concurrent streams, shoal against llama.cpp's
// llama-server on the same file, in one run: each server alone on the machine in turn (shoal
// `run --parallel 8`, llama-server `-np 8`), the same threads, the same 8 prompts, greedy,
// ignore_eos, N_GEN tokens per stream; rounds alternate between the two servers and the median of
// the rounds' ratios is printed (this VM's speed drifts over minutes).
// Usage: node bench/streams_bench.mjs MODEL LLAMA_SERVER [THREADS] [N_GEN] [REPEATS]   (SHOAL: the binary)
import { spawn } from 'node:child_process';
import net from 'node:net';
import { median, now, stream } from './lib.mjs';

const [model, llamaServer, threads = '2', nGenArg = '32', repArg = '3'] = process.argv.slice(2);
if (!model || !llamaServer) {
	console.error('usage: node bench/streams_bench.mjs MODEL LLAMA_SERVER [THREADS] [N_GEN] [REPEATS]');
	process.exit(2);
}
const shoal = process.env.SHOAL || 'build/shoal';
const nGen = Number(nGenArg), reps = Number(repArg);
const SLOTS = 8, CTX_PER_SLOT = 512;
const prompts = ['Once upon a time', 'The little dog', 'In a big city', 'Tom had a red ball', 'The sun was hot', 'Lily and Max', 'A bird sang', 'Mom made a cake'];

const freePort = () =>
	new Promise((resolve, reject) => {
		const s = net.createServer();
		s.on('error', reject);
		s.listen(0, '127.0.0.1', () => {
			const p = s.address().port;
			s.close(() => resolve(p));
		});
	});

async function start(who) {
	const port = await freePort();
	const args = who === 'shoal'
		? ['run', '-m', model, '--host', '127.0.0.1', '--port', String(port), '-t', threads, '--parallel', String(SLOTS), '-c', String(CTX_PER_SLOT), '--no-discovery']
		: ['-m', model, '--host', '127.0.0.1', '--port', String(port), '-t', threads, '-np', String(SLOTS), '-c', String(SLOTS * CTX_PER_SLOT)];
	const proc = spawn(who === 'shoal' ? shoal : llamaServer, args, { stdio: ['ignore', 'ignore', 'pipe'] });
	let log = '';
	proc.stderr.on('data', (d) => (log = (log + d).slice(-4000)));
	const base = `http://127.0.0.1:${port}`;
	for (let i = 0; i < 600; i++) {
		if (proc.exitCode !== null) throw new Error(`${who} exited ${proc.exitCode}: ${log}`);
		try {
			if ((await fetch(`${base}/health`)).status === 200) {
				await stream(base, prompts[0], 4); // warm-up: weights paged in
				return { proc, base };
			}
		} catch {}
		await new Promise((r) => setTimeout(r, 100));
	}
	proc.kill('SIGKILL');
	throw new Error(`${who} did not come up: ${log}`);
}

async function stop(s) {
	const gone = new Promise((r) => s.proc.on('exit', r));
	s.proc.kill('SIGTERM');
	await gone;
}

// k concurrent streams: generated tokens over the wall time from the first request to the last end
async function aggregate(base, k) {
	const t0 = now();
	const rs = await Promise.all(prompts.slice(0, k).map((p) => stream(base, p, nGen)));
	const toks = rs.reduce((s, x) => s + x.nGen, 0);
	if (toks !== k * nGen) throw new Error(`${toks} tokens generated, ${k * nGen} asked`);
	return toks / (Math.max(...rs.map((x) => x.tEnd)) - t0);
}

const res = { shoal: { 4: [], 8: [] }, llama: { 4: [], 8: [] } };
for (let r = 0; r < reps; r++)
	for (const who of ['shoal', 'llama']) {
		const s = await start(who);
		try {
			for (const k of [4, 8]) res[who][k].push(await aggregate(s.base, k));
		} finally {
			await stop(s);
		}
	}
console.log(`model: ${model}, ${threads} threads, ${nGen} tokens per stream, ${SLOTS} slots, median of ${reps} rounds`);
for (const k of [4, 8]) {
	const ratio = median(res.shoal[k].map((x, r) => x / res.llama[k][r]));
	console.log(`${k} streams: shoal ${median(res.shoal[k]).toFixed(1)} tok/s, llama-server ${median(res.llama[k]).toFixed(1)} tok/s, ` +
		`shoal / llama-server ${ratio.toFixed(2)}   (rounds: ${res.shoal[k].map((x, i) => `${x.toFixed(1)}/${res.llama[k][i].toFixed(1)}`).join(' ')})`);
}
