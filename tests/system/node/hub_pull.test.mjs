// hub_pull.test.mjs - models by name: `shoal pull`, `ls`, `rm`, `show` and `run ORG/REPO:QUANT`
// against the hub stand-in (tests/system/hub/hub.mjs, the hub's real HTTP interface: tree
// listing, 302 to a CDN with X-Linked-* headers, Range, gating, 429) serving small real GGUF
// files that `shoal synth` writes, a split set, and the bundled model. Every test has its own cache
// (HF_HUB_CACHE in a temp dir); the stand-in counts the bytes it serves and pages its file lists
// two entries a page, so every listing follows Link headers.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, execFileSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { shoal, model, startServer, startHub, sleep } from './lib.mjs';

const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'shoal-hub-'));
const root = path.join(tmp, 'hub');
let hub, hubUrl;

const sha256 = (file) => createHash('sha256').update(fs.readFileSync(file)).digest('hex');

function synth(type, out, extra = []) {
	fs.mkdirSync(path.dirname(out), { recursive: true });
	execFileSync(shoal, ['synth', '--preset', 'test-tiny', '--type', type, '--vocab', model, '-o', out, ...extra], {
		stdio: 'ignore',
	});
}

before(async () => {
	const tiny = path.join(root, 'test-org', 'tiny-GGUF');
	for (const [type, q] of [['q8_0', 'Q8_0'], ['q4_0', 'Q4_0'], ['f16', 'F16']]) synth(type, path.join(tiny, `tiny-${q}.gguf`));
	fs.writeFileSync(path.join(tiny, 'README.md'), '# tiny\nRandom weights at a tiny shape, for tests.\n');
	const stories = path.join(root, 'karpathy', 'stories-GGUF');
	fs.mkdirSync(stories, { recursive: true });
	fs.copyFileSync(model, path.join(stories, 'stories260K-F32.gguf'));
	const gated = path.join(root, 'gated-org', 'secret-GGUF');
	synth('q8_0', path.join(gated, 'secret-Q8_0.gguf'));
	fs.writeFileSync(path.join(gated, '.gated'), 'hf_right_token_123');
	synth('q8_0', path.join(root, 'split-org', 'split-GGUF', 'split-Q8_0.gguf'), ['--split', '3']);
	synth('q8_0', path.join(tmp, 'unsplit-Q8_0.gguf'));

	hub = await startHub(root, ['--page-size', '2']);
	hubUrl = hub.url;
});

after(() => {
	hub?.stop();
	fs.rmSync(tmp, { recursive: true, force: true });
});

const faults = (f) => fetch(`${hubUrl}/__faults`, { method: 'POST', body: JSON.stringify(f) }).then((r) => assert.equal(r.status, 200));
const reset = () => fetch(`${hubUrl}/__reset`, { method: 'POST' });
const stats = () => fetch(`${hubUrl}/__stats`).then((r) => r.json());

let n_cache = 0;
function cacheDir() {
	return path.join(tmp, `cache${n_cache++}`);
}

// starts shoal: {proc, done}, done resolving {code, signal, stdout, stderr, ms}
function start(args, { cache, env = {}, timeout = 60000 } = {}) {
	const t0 = Date.now();
	if (args[0] === 'pull') args = [...args, '--no-discovery']; // pull asks the LAN first: no beacons from a test
	const proc = spawn(shoal, args, {
		env: { ...process.env, HF_ENDPOINT: hubUrl, HF_HUB_CACHE: cache, HF_TOKEN: '', ...env },
		stdio: ['ignore', 'pipe', 'pipe'],
	});
	let stdout = '', stderr = '';
	proc.stdout.on('data', (d) => (stdout += d));
	proc.stderr.on('data', (d) => (stderr += d));
	const timer = setTimeout(() => proc.kill('SIGKILL'), timeout);
	const done = new Promise((resolve) =>
		proc.on('exit', (code, signal) => {
			clearTimeout(timer);
			resolve({ code, signal, stdout, stderr, ms: Date.now() - t0 });
		}),
	);
	return { proc, done };
}
const run = (args, o) => start(args, o).done;

function ok(r, what) {
	assert.equal(r.code, 0, `${what}: exit ${r.code} ${r.signal || ''}\n${r.stderr}`);
	assert.doesNotMatch(r.stderr, /AddressSanitizer|runtime error/, r.stderr);
	return r;
}

test('the cache layout is exactly huggingface_hub\'s', async () => {
	await reset();
	const cache = cacheDir();
	const r = ok(await run(['pull', 'test-org/tiny-GGUF:q8_0'], { cache }), 'pull');
	const src = path.join(root, 'test-org/tiny-GGUF/tiny-Q8_0.gguf');
	const sha = sha256(src);
	const repoDir = path.join(cache, 'models--test-org--tiny-GGUF');
	const commit = fs.readFileSync(path.join(repoDir, 'refs/main'), 'utf8');
	assert.match(commit, /^[0-9a-f]{40}$/);
	const head = await fetch(`${hubUrl}/test-org/tiny-GGUF/resolve/main/tiny-Q8_0.gguf`, { method: 'HEAD', redirect: 'manual' });
	assert.equal(head.headers.get('x-repo-commit'), commit);
	const link = path.join(repoDir, 'snapshots', commit, 'tiny-Q8_0.gguf');
	assert.equal(fs.readlinkSync(link), `../../blobs/${sha}`);
	assert.equal(r.stdout.trim(), link);
	assert.deepEqual(fs.readdirSync(path.join(repoDir, 'blobs')), [sha]);
	assert.deepEqual(fs.readdirSync(path.join(repoDir, 'snapshots', commit)), ['tiny-Q8_0.gguf']);
	assert.equal(sha256(link), sha);
	assert.ok(fs.existsSync(path.join(cache, '.locks', 'models--test-org--tiny-GGUF', `${sha}.lock`)));
	// progress when stderr is not a terminal: lines, the last one "done"
	assert.match(r.stderr, /pull tiny-Q8_0\.gguf: 0% \(/);
	assert.match(r.stderr, /pull tiny-Q8_0\.gguf: done, /);
	// a second pull asks the hub and downloads nothing
	await reset();
	ok(await run(['pull', 'test-org/tiny-GGUF:Q8_0', '--quiet'], { cache }), 'pull again');
	assert.equal((await stats()).bytes['test-org/tiny-GGUF/tiny-Q8_0.gguf'] || 0, 0);
});

test('on a terminal: one bar per file, redrawn in place, never wider than the terminal', async () => {
	await reset();
	const cache = cacheDir();
	const file = 'test-org/tiny-GGUF/tiny-F16.gguf';
	const size = fs.statSync(path.join(root, file)).size;
	await faults({ file, throttle: Math.ceil(size / 2) }); // about 2 s: several redraws
	const env = { ...process.env, HF_ENDPOINT: hubUrl, HF_HUB_CACHE: cache, HF_TOKEN: '' };
	for (const cols of [100, 48]) {
		fs.rmSync(cache, { recursive: true, force: true });
		// script(1) gives shoal a terminal of that width; what shoal writes to it comes back on stdout
		const out = execFileSync('script', ['-qec', `stty cols ${cols} rows 20; ${shoal} pull --no-discovery test-org/tiny-GGUF:F16`, '/dev/null'], { env, encoding: 'utf8' });
		const draws = out.split(/\r|\n/).map((l) => l.replace(/\x1b\[K/g, '')).filter((l) => /%/.test(l) && !/^shoal:/.test(l));
		assert.ok(draws.length >= 2, out);
		for (const d of draws) assert.ok(d.length <= cols - 1, `${d.length} columns on a terminal of ${cols}: '${d}'`);
		assert.match(draws.at(-1), /100%/);
		if (cols === 100) assert.match(draws.at(-1), /^tiny-F16\.gguf +100% \[#+\] +[0-9.]+ [KM]iB \/ [0-9.]+ [KM]iB +[0-9.]+ [KM]iB\/s +ETA 0s/);
	}
});

test('a pull cut mid-file resumes with Range: less than 1.1x the file crosses the wire', async () => {
	await reset();
	const cache = cacheDir();
	const file = 'test-org/tiny-GGUF/tiny-F16.gguf';
	const size = fs.statSync(path.join(root, file)).size;
	await faults({ file, cut_after: Math.floor(size / 2) });
	const r = ok(await run(['pull', 'test-org/tiny-GGUF:F16'], { cache }), 'pull');
	assert.match(r.stderr, /trying again/);
	const s = await stats();
	assert.ok(s.bytes[file] < 1.1 * size, `${s.bytes[file]} bytes served for a ${size}-byte file`);
	assert.equal(sha256(r.stdout.trim()), sha256(path.join(root, file)));
	const ranged = s.requests.filter((q) => q.range && q.range.startsWith('bytes=') && q.range !== 'bytes=0-');
	assert.ok(ranged.length >= 1, JSON.stringify(s.requests));
});

test('a pull killed mid-file and started again resumes from the partial', async () => {
	await reset();
	const cache = cacheDir();
	const file = 'test-org/tiny-GGUF/tiny-Q4_0.gguf';
	const size = fs.statSync(path.join(root, file)).size;
	await faults({ file, throttle: Math.ceil(size / 4) }); // about 4 s for the whole file
	const first = start(['pull', 'test-org/tiny-GGUF:Q4_0'], { cache });
	const blobs = path.join(cache, 'models--test-org--tiny-GGUF/blobs');
	let partial = 0;
	for (let i = 0; i < 200 && partial < size / 4; i++) {
		await sleep(25);
		const inc = fs.existsSync(blobs) ? fs.readdirSync(blobs).find((f) => f.endsWith('.incomplete')) : null;
		partial = inc ? fs.statSync(path.join(blobs, inc)).size : 0;
	}
	assert.ok(partial > 0, 'no partial file appeared');
	const ls = ok(await run(['ls', '--json'], { cache }), 'ls');
	const listed = JSON.parse(ls.stdout);
	assert.equal(listed.length, 1);
	assert.equal(listed[0].reference, 'test-org/tiny-GGUF:Q4_0');
	assert.equal(listed[0].complete, false);
	first.proc.kill('SIGKILL');
	await first.done;
	await faults({ file, throttle: 0 });
	const r = ok(await run(['pull', 'test-org/tiny-GGUF:Q4_0'], { cache }), 'pull again');
	assert.match(r.stderr, /resuming at \d+ of \d+ bytes/);
	const s = await stats();
	assert.ok(s.bytes[file] < 1.1 * size, `${s.bytes[file]} bytes served for a ${size}-byte file`);
	assert.equal(sha256(r.stdout.trim()), sha256(path.join(root, file)));
});

test('429 with Retry-After is honoured', async () => {
	await reset();
	const cache = cacheDir();
	await faults({ file: 'test-org/tiny-GGUF/tiny-Q8_0.gguf', status429: 1, retry_after: 2 });
	const r = ok(await run(['pull', 'test-org/tiny-GGUF:Q8_0'], { cache }), 'pull');
	assert.match(r.stderr, /HTTP 429 \(too many requests\); trying again in 2\.0 s/);
	const q = (await stats()).requests.filter((x) => x.path.includes('tiny-Q8_0'));
	const i = q.findIndex((x) => x.status === 429);
	assert.ok(i >= 0 && i + 1 < q.length, JSON.stringify(q));
	assert.ok(q[i + 1].t - q[i].t >= 1900, `the next request came ${q[i + 1].t - q[i].t} ms after the 429`);
});

test('5xx answers are retried with backoff', async () => {
	await reset();
	const cache = cacheDir();
	await faults({ file: 'test-org/tiny-GGUF/tiny-Q4_0.gguf', fail5xx: 2 });
	const r = ok(await run(['pull', 'test-org/tiny-GGUF:Q4_0'], { cache }), 'pull');
	assert.match(r.stderr, /HTTP 500; trying again in 0\.5 s \(1 of 8\)/);
	assert.match(r.stderr, /HTTP 503; trying again in 1\.0 s \(2 of 8\)/);
	assert.equal(sha256(r.stdout.trim()), sha256(path.join(root, 'test-org/tiny-GGUF/tiny-Q4_0.gguf')));
	const pages = (await stats()).requests.filter((q) => q.path.includes('/tree/main'));
	assert.ok(pages.length >= 2, `the file list came in ${pages.length} pages`);
});

test('a corrupted transfer is detected and pulled again; corrupted twice fails naming both hashes', async () => {
	await reset();
	const file = 'test-org/tiny-GGUF/tiny-Q8_0.gguf';
	const want = sha256(path.join(root, file));
	await faults({ file, corrupt: 1 });
	let cache = cacheDir();
	let r = ok(await run(['pull', 'test-org/tiny-GGUF:Q8_0'], { cache }), 'pull');
	assert.match(r.stderr, new RegExp(`arrived corrupt \\(sha256 [0-9a-f]{64}, the hub says ${want}\\); pulling it again`));
	assert.equal(sha256(r.stdout.trim()), want);
	await faults({ file, corrupt: 2 });
	cache = cacheDir();
	r = await run(['pull', 'test-org/tiny-GGUF:Q8_0'], { cache });
	assert.notEqual(r.code, 0);
	assert.match(r.stderr, new RegExp(`arrived corrupt twice: sha256 [0-9a-f]{64}, the hub says ${want}`));
	const blobs = path.join(cache, 'models--test-org--tiny-GGUF/blobs');
	assert.deepEqual(fs.existsSync(blobs) ? fs.readdirSync(blobs) : [], [], 'a corrupt blob was kept');
});

test('a gated repo fails without a token, with a wrong one, and works with the right one', async () => {
	await reset();
	const cache = cacheDir();
	let r = await run(['pull', 'gated-org/secret-GGUF:Q8_0'], { cache });
	assert.equal(r.code, 1);
	assert.match(r.stderr, /gated or private; set HF_TOKEN or pass --token/);
	r = await run(['pull', 'gated-org/secret-GGUF:Q8_0', '--token', 'hf_wrong_token_456'], { cache });
	assert.equal(r.code, 1);
	assert.match(r.stderr, /the token \(HF_TOKEN or --token\) has no access/);
	r = ok(await run(['pull', 'gated-org/secret-GGUF:Q8_0'], { cache, env: { HF_TOKEN: 'hf_right_token_123' } }), 'HF_TOKEN');
	assert.equal(sha256(r.stdout.trim()), sha256(path.join(root, 'gated-org/secret-GGUF/secret-Q8_0.gguf')));
	const s = await stats();
	assert.ok(s.requests.some((q) => q.auth && q.status === 200), 'the token was sent');
});

test('an unknown quant lists the ones the repo has; no such repo says so', async () => {
	const cache = cacheDir();
	let r = await run(['pull', 'test-org/tiny-GGUF:Q6_K'], { cache });
	assert.equal(r.code, 1);
	assert.match(r.stderr, /test-org\/tiny-GGUF has no Q6_K; its quants: (Q8_0|Q4_0|F16), (Q8_0|Q4_0|F16), (Q8_0|Q4_0|F16)/);
	r = await run(['pull', 'test-org/nothing-here'], { cache });
	assert.equal(r.code, 1);
	assert.match(r.stderr, /no such repo/);
	// ORG/REPO alone: no Q4_K_M there, so the smallest file of at least 4 bits (Q4_0), said
	r = ok(await run(['pull', 'hf.co/test-org/tiny-GGUF'], { cache }), 'default quant');
	assert.match(r.stderr, /pull test-org\/tiny-GGUF: tiny-Q4_0\.gguf \(/);
});

test('two pulls at once end with one correct blob, downloaded once', async () => {
	await reset();
	const cache = cacheDir();
	const file = 'test-org/tiny-GGUF/tiny-F16.gguf';
	const size = fs.statSync(path.join(root, file)).size;
	await faults({ file, throttle: Math.ceil(size / 2) });
	const a = start(['pull', 'test-org/tiny-GGUF:F16'], { cache });
	await sleep(300);
	const b = start(['pull', 'test-org/tiny-GGUF:F16'], { cache });
	const [ra, rb] = await Promise.all([a.done, b.done]);
	ok(ra, 'first');
	ok(rb, 'second');
	assert.equal(ra.stdout, rb.stdout);
	const blobs = fs.readdirSync(path.join(cache, 'models--test-org--tiny-GGUF/blobs'));
	assert.deepEqual(blobs, [sha256(path.join(root, file))]);
	const s = await stats();
	assert.ok(s.bytes[file] < 1.1 * size, `${s.bytes[file]} bytes served for a ${size}-byte file pulled twice at once`);
	await faults({ file, throttle: 0 });
});

test('HF_HUB_OFFLINE=1 and --offline use the cache alone', async () => {
	const cache = cacheDir();
	ok(await run(['pull', 'test-org/tiny-GGUF:Q8_0', '-q'], { cache }), 'pull');
	const offline = { cache, env: { HF_ENDPOINT: 'http://127.0.0.1:9' } }; // nothing listens there
	let r = ok(await run(['show', 'test-org/tiny-GGUF:Q8_0', '--json'], { ...offline, env: { ...offline.env, HF_HUB_OFFLINE: '1' } }), 'show');
	assert.equal(JSON.parse(r.stdout).quant, 'Q8_0');
	r = ok(await run(['generate', '-m', 'test-org/tiny-GGUF:Q8_0', '--offline', '-p', 'Once', '-n', '4', '--temp', '0', '-t', '1'], offline), 'generate');
	r = await run(['show', 'test-org/tiny-GGUF:Q4_0', '--offline'], offline);
	assert.equal(r.code, 1);
	assert.match(r.stderr, /not in the cache .* offline/);
	r = await run(['show', 'test-org/other-GGUF', '--offline'], offline);
	assert.equal(r.code, 1);
	assert.match(r.stderr, /test-org\/other-GGUF is not in the cache/);
	// no network at all: one clear line
	r = await run(['pull', 'test-org/tiny-GGUF:Q4_0'], { cache, env: { HF_ENDPOINT: 'http://no-such-host.invalid' } });
	assert.equal(r.code, 1);
	assert.match(r.stderr, /cannot reach http:\/\/no-such-host\.invalid/);
});

test('a full disk is one clear line, and the partial is kept', { skip: process.getuid() !== 0 && 'needs root to mount a small tmpfs' }, async () => {
	const cache = cacheDir();
	fs.mkdirSync(cache);
	execFileSync('mount', ['-t', 'tmpfs', '-o', 'size=2m', 'tmpfs', cache]);
	try {
		const r = await run(['pull', 'test-org/tiny-GGUF:Q8_0'], { cache });
		assert.equal(r.code, 1);
		assert.match(r.stderr, /tiny-Q8_0\.gguf needs 3\.5 MiB more and .* has 2\.0 MiB free; the 0 bytes already pulled are kept/);
		assert.equal(r.stderr.trim().split('\n').filter((l) => /error/.test(l)).length, 1, r.stderr);
	} finally {
		execFileSync('umount', [cache]);
	}
});

test('a split set is pulled whole and loads as one model, equal to the unsplit file', async () => {
	const cache = cacheDir();
	const r = ok(await run(['pull', 'split-org/split-GGUF:Q8_0'], { cache }), 'pull');
	const snap = path.dirname(r.stdout.trim());
	assert.deepEqual(fs.readdirSync(snap).sort(), [1, 2, 3].map((k) => `split-Q8_0-0000${k}-of-00003.gguf`));
	const gen = (m) => execFileSync(shoal, ['generate', '-m', m, '-p', 'Once upon', '-n', '12', '--temp', '0', '-t', '1'],
		{ env: { ...process.env, HF_HUB_CACHE: cache, HF_HUB_OFFLINE: '1' }, stdio: ['ignore', 'pipe', 'ignore'] }).toString();
	assert.equal(gen('split-org/split-GGUF:Q8_0'), gen(path.join(tmp, 'unsplit-Q8_0.gguf')));
});

test('shoal run ORG/REPO:QUANT pulls and serves what the same file serves by path', async () => {
	const cache = cacheDir();
	const body = { model: 'x', prompt: 'Once upon a time', max_tokens: 24, temperature: 0 };
	const complete = async (srv) => {
		const res = await fetch(`${srv.url}/completions`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) });
		assert.equal(res.status, 200);
		return (await res.json()).choices[0].text;
	};
	const byRef = await startServer([], { model: 'karpathy/stories-GGUF:F32', env: { HF_ENDPOINT: hubUrl, HF_HUB_CACHE: cache } });
	const a = await complete(byRef);
	assert.match(byRef.log(), /pull stories260K-F32\.gguf: done/);
	const models = await (await fetch(`${byRef.url}/models`)).json();
	assert.deepEqual(models.data.map((m) => m.id), ['karpathy/stories-GGUF:F32'], 'the model is named by its reference');
	await byRef.stop();
	const byPath = await startServer([], { model: path.join(root, 'karpathy/stories-GGUF/stories260K-F32.gguf') });
	const b = await complete(byPath);
	await byPath.stop();
	assert.ok(a.length > 10, a);
	assert.equal(a, b);
});

test('ls lists, rm removes with the blobs, show describes', async () => {
	const cache = cacheDir();
	for (const q of ['Q8_0', 'F16']) ok(await run(['pull', `test-org/tiny-GGUF:${q}`, '-q'], { cache }), q);
	let r = ok(await run(['ls'], { cache }), 'ls');
	assert.match(r.stdout, /^REFERENCE +QUANT +SIZE +MODIFIED +COMPLETE\n/);
	assert.match(r.stdout, /test-org\/tiny-GGUF:F16 +F16 +[\d.]+ MiB +\d{4}-\d\d-\d\d \d\d:\d\d +yes\n/);
	assert.match(r.stdout, /test-org\/tiny-GGUF:Q8_0 +Q8_0 /);
	r = ok(await run(['show', 'test-org/tiny-GGUF:F16'], { cache }), 'show');
	assert.match(r.stdout, /architecture: +llama/);
	assert.match(r.stdout, /quant: +F16/);
	assert.match(r.stdout, /context: +\d+/);
	assert.match(r.stdout, /chat template:/);
	r = ok(await run(['rm', 'test-org/tiny-GGUF:F16'], { cache }), 'rm');
	assert.match(r.stdout, /removed test-org\/tiny-GGUF:F16 \([\d.]+ MiB freed\)/);
	const left = JSON.parse(ok(await run(['ls', '--json'], { cache }), 'ls').stdout);
	assert.deepEqual(left.map((m) => m.reference), ['test-org/tiny-GGUF:Q8_0']);
	const blobs = fs.readdirSync(path.join(cache, 'models--test-org--tiny-GGUF/blobs'));
	assert.deepEqual(blobs, [sha256(path.join(root, 'test-org/tiny-GGUF/tiny-Q8_0.gguf'))]);
	r = await run(['rm', 'test-org/tiny-GGUF:F16'], { cache });
	assert.equal(r.code, 1);
	assert.match(r.stderr, /is not in the cache/);
});
