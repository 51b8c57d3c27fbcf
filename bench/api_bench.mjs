// api_bench.mjs - the HTTP API's speed against `shoal generate` on the same model, in one run:
//   1. generation tok/s of one stream through the API over `shoal generate` (same prompt, greedy,
//      ignore_eos, same threads), interleaved repeats, the median of the rounds' ratios; the
//      target is >= 0.95;
//   2. time to first token of one stream (short prompt, and a 128-token prompt);
//   3. aggregate generated tok/s of 1, 4 and 8 concurrent streams (--parallel 8), wall clock from
//      the first request sent to the last stream done.
// Usage: node bench/api_bench.mjs MODEL [THREADS] [N_GEN] [REPEATS]   (SHOAL: the binary)
import { spawn, spawnSync } from 'node:child_process';
import { median, now, stream } from './lib.mjs';

const [model, threads = '2', nGenArg = '64', repArg = '3'] = process.argv.slice(2);
if (!model) {
	console.error('usage: node bench/api_bench.mjs MODEL [THREADS] [N_GEN] [REPEATS]');
	process.exit(2);
}
const shoal = process.env.SHOAL || 'build/shoal';
const nGen = Number(nGenArg), reps = Number(repArg);
const prompt = 'Once upon a time';

function generateRate() {
	const r = spawnSync(shoal, ['generate', '-m', model, '-p', prompt, '-n', String(nGen), '--temp', '0', '--ignore-eos', '-t', threads], {
		stdio: ['ignore', 'ignore', 'pipe'],
	});
	if (r.error) throw r.error;
	const out = r.stderr.toString();
	const m = out.match(/generated (\d+) tokens ([\d.]+) tok\/s/);
	if (!m) throw new Error(`no stats line from generate: ${out}`);
	return Number(m[2]);
}

async function startServer() {
	const proc = spawn(shoal, ['run', '-m', model, '--host', '127.0.0.1', '--port', '0', '-t', threads, '--parallel', '8', '--no-discovery'], {
		stdio: ['ignore', 'ignore', 'pipe'],
	});
	let log = '';
	const port = await new Promise((resolve, reject) => {
		proc.stderr.on('data', (d) => {
			log += d;
			const m = log.match(/http:\/\/[^ ]*:(\d+)\/v1/);
			if (m) resolve(Number(m[1]));
		});
		proc.on('exit', (c) => reject(new Error(`server exited ${c}: ${log}`)));
	});
	return { proc, base: `http://127.0.0.1:${port}` };
}

const srv = await startServer();
try {
	await stream(srv.base, prompt, 8); // warm-up: weights paged in
	generateRate();
	const gen = [], api = [], ttft = [];
	for (let r = 0; r < reps; r++) {
		gen.push(generateRate());
		const s = await stream(srv.base, prompt, nGen);
		api.push((s.nGen - 1) / (s.tLast - s.tFirst));
		ttft.push(s.tFirst);
	}
	const long = 'The little dog ran to the park and played with a red ball in the sun. '.repeat(8);
	const ttftLong = [];
	let nLong = 0;
	for (let r = 0; r < reps; r++) {
		const s = await stream(srv.base, `${r} ${long}`, 2); // no shared prefix: no cache reuse
		ttftLong.push(s.tFirst);
		nLong = s.nPrompt;
	}

	const g = median(gen), a = median(api);
	console.log(`model:            ${model}, ${threads} threads, ${nGen} generated tokens, median of ${reps}`);
	console.log(`generate:         ${g.toFixed(2)} tok/s   (runs: ${gen.map((x) => x.toFixed(2)).join(' ')})`);
	console.log(`api, 1 stream:    ${a.toFixed(2)} tok/s   (runs: ${api.map((x) => x.toFixed(2)).join(' ')})`);
	// each round's ratio (the two runs are seconds apart), then the median: this VM's speed drifts
	// by several percent over minutes, which a ratio of two medians would take for a difference
	console.log(`api / generate:   ${median(api.map((x, r) => x / gen[r])).toFixed(3)}   (median of the rounds' ratios; target >= 0.95)`);
	console.log(`ttft:             ${(median(ttft) * 1000).toFixed(0)} ms (${prompt.split(' ').length + 1}-token prompt), ` +
		`${(median(ttftLong) * 1000).toFixed(0)} ms (${nLong}-token prompt: ${(nLong / median(ttftLong)).toFixed(1)} tok/s)`);
	const stories = ['Once upon a time', 'The little dog', 'In a big city', 'Tom had a red ball', 'The sun was hot', 'Lily and Max', 'A bird sang', 'Mom made a cake'];
	let agg1 = 0;
	for (const k of [1, 4, 8]) {
		const t0 = now();
		const rs = await Promise.all(Array.from({ length: k }, (_, i) => stream(srv.base, stories[i], nGen)));
		const wall = Math.max(...rs.map((x) => x.tEnd)) - t0;
		const toks = rs.reduce((s, x) => s + x.nGen, 0);
		const agg = toks / wall;
		if (k === 1) agg1 = agg;
		console.log(`aggregate, ${k} stream${k > 1 ? 's' : ' '}: ${agg.toFixed(2)} tok/s   (${toks} tokens in ${wall.toFixed(2)} s, ` +
			`ttft median ${(median(rs.map((x) => x.tFirst)) * 1000).toFixed(0)} ms, ${(agg / agg1).toFixed(2)}x one stream)`);
	}
} finally {
	srv.proc.kill('SIGTERM');
}
