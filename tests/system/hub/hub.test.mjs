// hub.test.mjs - the hub stand-in (hub.mjs) tested on its own (node --test): it is started on a temp
// root holding small made-up files, a real GGUF (models/stories260K.gguf), a gated repo and a repo
// of 25 files (pagination at --page-size 10), then checked with plain fetch / node:http for the
// tree shapes, the 302 and its headers, Range/206/416, gating 401/403/200, the faults (429, 5xx,
// cut_after, corrupt, throttle, expire), /__stats and traversal, and with the official @huggingface/hub
// client (listFiles, fileDownloadInfo, downloadFile) to show it speaks the real protocol.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import fs from 'node:fs';
import http from 'node:http';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const here = path.dirname(fileURLToPath(import.meta.url));
const { listFiles, fileDownloadInfo, downloadFile } = await import(
	path.join(here, '../node/node_modules/@huggingface/hub/dist/index.mjs')
);

const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'shoal-hubstandin-'));
const root = path.join(tmp, 'root');
const TOKEN = 'hf_right_token_123';
let hub, url;

const sha256 = (b) => createHash('sha256').update(b).digest('hex');
const gitOid = (b) => createHash('sha1').update(Buffer.concat([Buffer.from(`blob ${b.length}\0`), b])).digest('hex');
const pointer = (b) => Buffer.from(`version https://git-lfs.github.com/spec/v1\noid sha256:${sha256(b)}\nsize ${b.length}\n`);
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

function put(rel, data) {
	const p = path.join(root, rel);
	fs.mkdirSync(path.dirname(p), { recursive: true });
	fs.writeFileSync(p, data);
	return data;
}
const F = {};

function startHub(args = []) {
	const proc = spawn(process.execPath, [path.join(here, 'hub.mjs'), '--root', root, '--port', '0', ...args], { stdio: ['ignore', 'pipe', 'inherit'] });
	return new Promise((resolve, reject) => {
		let out = '';
		const timer = setTimeout(() => reject(new Error(`no start line: ${out}`)), 10000);
		proc.stdout.on('data', (d) => {
			out += d;
			const m = out.match(/^hub listening on (http:\/\/127\.0\.0\.1:\d+)\n/);
			if (m) clearTimeout(timer), resolve({ proc, url: m[1] });
		});
	});
}

before(async () => {
	F.readme = put('test-org/small/README.md', '# small\n');
	F.config = put('test-org/small/config.json', '{"a": 1}\n');
	F.a = put('test-org/small/sub/dir/a.txt', 'a\n');
	F.b = put('test-org/small/sub/b.txt', 'b\n');
	F.gguf = put('test-org/small/tiny.gguf', randomBytes(5000));
	F.big = put('test-org/small/big.bin', randomBytes(1024 * 1024 + 5));
	F.almost = put('test-org/small/almost.bin', randomBytes(1024 * 1024 - 1));
	F.stories = put('karpathy/stories/stories260K.gguf', fs.readFileSync(path.join(here, '../../../models/stories260K.gguf')));
	F.secret = put('gated-org/secret/secret.gguf', randomBytes(3000));
	put('gated-org/secret/.gated', TOKEN + '\n');
	for (let i = 0; i < 25; i++) put(`many-org/many/f${String(i).padStart(2, '0')}.txt`, `file ${i}\n`);
	({ proc: hub, url } = await startHub(['--page-size', '10']));
});
after(() => {
	hub?.kill();
	fs.rmSync(tmp, { recursive: true, force: true });
});

const faults = (f) => fetch(`${url}/__faults`, { method: 'POST', body: JSON.stringify(f) }).then((r) => assert.equal(r.status, 200));
const reset = () => fetch(`${url}/__reset`, { method: 'POST' }).then((r) => assert.equal(r.status, 200));
const stats = () => fetch(`${url}/__stats`).then((r) => r.json());
const getJson = async (u, init) => {
	const r = await fetch(u, init);
	return { r, body: await r.json() };
};
// a raw request (no URL normalisation, sees a short body): {status, headers, body, aborted}
function raw(pathname, { method = 'GET', headers = {} } = {}) {
	const { port } = new URL(url);
	return new Promise((resolve, reject) => {
		const req = http.request({ host: '127.0.0.1', port, path: pathname, method, headers }, (res) => {
			const chunks = [];
			let aborted = false;
			res.on('data', (d) => chunks.push(d));
			res.on('aborted', () => (aborted = true));
			res.on('error', () => (aborted = true));
			res.on('close', () => resolve({ status: res.statusCode, headers: res.headers, body: Buffer.concat(chunks), aborted: aborted || !res.complete }));
		});
		req.on('error', reject);
		req.end();
	});
}
async function cdnOf(repoFile, headers = {}) {
	const [org, repo, ...p] = repoFile.split('/');
	const r = await fetch(`${url}/${org}/${repo}/resolve/main/${p.join('/')}`, { method: 'HEAD', redirect: 'manual', headers });
	assert.equal(r.status, 302);
	return r.headers.get('location');
}

test('tree: the real shapes, directories, LFS by name and by size, recursive or not, a sub-path', async () => {
	const { r, body } = await getJson(`${url}/api/models/test-org/small/tree/main`);
	assert.equal(r.status, 200);
	assert.match(r.headers.get('content-type'), /^application\/json/);
	assert.deepEqual(body.map((e) => e.path).sort(), ['README.md', 'almost.bin', 'big.bin', 'config.json', 'sub', 'tiny.gguf']);
	const by = Object.fromEntries(body.map((e) => [e.path, e]));
	assert.deepEqual(by['README.md'], { type: 'file', oid: gitOid(Buffer.from(F.readme)), size: F.readme.length, path: 'README.md' });
	assert.deepEqual(by['almost.bin'], { type: 'file', oid: gitOid(F.almost), size: F.almost.length, path: 'almost.bin' });
	for (const [name, data] of [['tiny.gguf', F.gguf], ['big.bin', F.big]])
		assert.deepEqual(by[name], {
			type: 'file', oid: gitOid(pointer(data)), size: data.length, path: name,
			lfs: { oid: sha256(data), size: data.length, pointerSize: pointer(data).length },
		});
	assert.equal(by.sub.type, 'directory');
	assert.match(by.sub.oid, /^[0-9a-f]{40}$/);
	assert.equal(by.sub.size, 0);

	const rec = (await getJson(`${url}/api/models/test-org/small/tree/main?recursive=true&expand=false`)).body;
	assert.deepEqual(rec.map((e) => e.path).sort(), ['README.md', 'almost.bin', 'big.bin', 'config.json', 'sub', 'sub/b.txt', 'sub/dir', 'sub/dir/a.txt', 'tiny.gguf']);
	assert.equal((await getJson(`${url}/api/models/test-org/small/tree/main?recursive=false`)).body.length, 6);
	const sub = (await getJson(`${url}/api/models/test-org/small/tree/main/sub`)).body;
	assert.deepEqual(sub.map((e) => [e.type, e.path]).sort(), [['directory', 'sub/dir'], ['file', 'sub/b.txt']]);
	// huggingface_hub quotes the path with safe="": sub%2Fdir
	assert.deepEqual((await getJson(`${url}/api/models/test-org/small/tree/main/sub%2Fdir`)).body.map((e) => e.path), ['sub/dir/a.txt']);
	const exp = (await getJson(`${url}/api/models/test-org/small/tree/main?expand=true`)).body;
	assert.match(exp[0].lastCommit.id, /^[0-9a-f]{40}$/);
});

test('tree: by commit id; unknown revision, repo and path answer 404 with their X-Error-Code', async () => {
	const head = await fetch(`${url}/test-org/small/resolve/main/README.md`, { method: 'HEAD' });
	const commit = head.headers.get('x-repo-commit');
	assert.match(commit, /^[0-9a-f]{40}$/);
	assert.equal((await fetch(`${url}/api/models/test-org/small/tree/${commit}`)).status, 200);
	let { r, body } = await getJson(`${url}/api/models/test-org/small/tree/v9.9`);
	assert.equal(r.status, 404);
	assert.equal(r.headers.get('x-error-code'), 'RevisionNotFound');
	assert.equal(typeof body.error, 'string');
	({ r, body } = await getJson(`${url}/api/models/test-org/nothing/tree/main`));
	assert.equal(r.status, 404);
	assert.equal(r.headers.get('x-error-code'), 'RepoNotFound');
	assert.equal(r.headers.get('x-error-message'), 'Repository not found');
	assert.deepEqual(body, { error: 'Repository not found' });
	({ r } = await getJson(`${url}/api/models/test-org/small/tree/main/nope`));
	assert.equal(r.status, 404);
	assert.equal(r.headers.get('x-error-code'), 'EntryNotFound');
	// model info, as repo_info / snapshot_download read it
	const info = (await getJson(`${url}/api/models/test-org/small/revision/main`)).body;
	assert.equal(info.sha, commit);
	assert.equal(info.siblings.length, 7);
});

test('the commit id is stable across restarts', async () => {
	const a = await fetch(`${url}/test-org/small/resolve/main/README.md`, { method: 'HEAD' });
	const other = await startHub();
	try {
		const b = await fetch(`${other.url}/test-org/small/resolve/main/README.md`, { method: 'HEAD' });
		assert.equal(b.headers.get('x-repo-commit'), a.headers.get('x-repo-commit'));
	} finally {
		other.proc.kill();
	}
});

test('tree pagination: Link rel="next" with a cursor, absolute, keeping the query', async () => {
	let next = `${url}/api/models/many-org/many/tree/main?recursive=true`;
	const all = [], links = [];
	while (next) {
		const { r, body } = await getJson(next);
		assert.equal(r.status, 200);
		all.push(...body);
		const link = r.headers.get('link');
		links.push(link);
		next = link && link.match(/^<([^>]+)>; rel="next"$/)[1];
	}
	assert.equal(links.length, 3);
	assert.match(links[0], /^<http:\/\/127\.0\.0\.1:\d+\/api\/models\/many-org\/many\/tree\/main\?recursive=true&cursor=[\w-]+>; rel="next"$/);
	assert.equal(links[2], null);
	assert.deepEqual(all.map((e) => e.path), Array.from({ length: 25 }, (_, i) => `f${String(i).padStart(2, '0')}.txt`));
	assert.equal((await fetch(`${url}/api/models/many-org/many/tree/main?cursor=bogus!`)).status, 400);
});

test('resolve, a plain git file: 200 with ETag (git oid), X-Repo-Commit, Content-Length; Range gives 206', async () => {
	for (const method of ['GET', 'HEAD']) {
		const r = await fetch(`${url}/test-org/small/resolve/main/config.json?download=true`, { method });
		assert.equal(r.status, 200);
		assert.equal(r.headers.get('etag'), `"${gitOid(Buffer.from(F.config))}"`);
		assert.match(r.headers.get('x-repo-commit'), /^[0-9a-f]{40}$/);
		assert.equal(r.headers.get('content-length'), String(F.config.length));
		assert.equal(r.headers.get('accept-ranges'), 'bytes');
		assert.equal(r.headers.get('x-linked-etag'), null);
		assert.equal(await r.text(), method === 'GET' ? F.config : '');
	}
	const r = await fetch(`${url}/test-org/small/resolve/main/sub/dir/a.txt`, { headers: { Range: 'bytes=1-' } });
	assert.equal(r.status, 206);
	assert.equal(r.headers.get('content-range'), `bytes 1-1/2`);
	assert.equal(await r.text(), '\n');
	// just under 1 MiB is still a git file
	assert.equal((await fetch(`${url}/test-org/small/resolve/main/almost.bin`, { method: 'HEAD', redirect: 'manual' })).status, 200);
});

test('resolve, an LFS file: 302 to the CDN with X-Linked-Etag, X-Linked-Size, X-Repo-Commit', async () => {
	for (const [name, data] of [['tiny.gguf', F.gguf], ['big.bin', F.big]]) {
		for (const method of ['HEAD', 'GET']) {
			const r = await fetch(`${url}/test-org/small/resolve/main/${name}`, { method, redirect: 'manual' });
			assert.equal(r.status, 302);
			assert.ok(r.headers.get('location').startsWith(`${url}/cdn/`), r.headers.get('location'));
			assert.equal(r.headers.get('x-linked-etag'), `"${sha256(data)}"`);
			assert.equal(r.headers.get('x-linked-size'), String(data.length));
			assert.match(r.headers.get('x-repo-commit'), /^[0-9a-f]{40}$/);
			assert.equal(r.headers.get('etag'), `"${gitOid(pointer(data))}"`);
		}
		const got = await fetch(`${url}/test-org/small/resolve/main/${name}`);
		assert.equal(got.status, 200);
		assert.equal(got.headers.get('etag'), `"${sha256(data)}"`);
		assert.equal(sha256(Buffer.from(await got.arrayBuffer())), sha256(data));
	}
	const r = await fetch(`${url}/test-org/small/resolve/main/nope.gguf`, { method: 'HEAD' });
	assert.equal(r.status, 404);
	assert.equal(r.headers.get('x-error-code'), 'EntryNotFound');
	assert.match(r.headers.get('x-repo-commit'), /^[0-9a-f]{40}$/);
});

test('the CDN: Content-Length, ETag, Accept-Ranges; bytes=A- and A-B give 206; past the end 416', async () => {
	const cdn = await cdnOf('karpathy/stories/stories260K.gguf');
	const size = F.stories.length;
	const h = await fetch(cdn, { method: 'HEAD' });
	assert.equal(h.status, 200);
	assert.equal(h.headers.get('content-length'), String(size));
	assert.equal(h.headers.get('etag'), `"${sha256(F.stories)}"`);
	assert.equal(h.headers.get('accept-ranges'), 'bytes');
	let r = await fetch(cdn, { headers: { Range: 'bytes=1000-' } });
	assert.equal(r.status, 206);
	assert.equal(r.headers.get('content-range'), `bytes 1000-${size - 1}/${size}`);
	assert.ok(Buffer.from(await r.arrayBuffer()).equals(F.stories.subarray(1000)));
	r = await fetch(cdn, { headers: { Range: 'bytes=0-3' } });
	assert.equal(r.status, 206);
	assert.equal(await r.text(), 'GGUF');
	r = await fetch(cdn, { headers: { Range: `bytes=${size}-` } });
	assert.equal(r.status, 416);
	assert.equal(r.headers.get('content-range'), `bytes */${size}`);
	// the signature is the CDN's credential
	const forged = cdn.replace(/Signature=[0-9a-f]/, (m) => m.slice(0, -1) + (m.endsWith('0') ? '1' : '0'));
	assert.equal((await fetch(forged)).status, 403);
	assert.equal((await fetch(cdn.split('?')[0])).status, 403);
});

test('a gated repo: 401 without a token, 403 with a wrong one, 200 with the right one', async () => {
	for (const u of [`${url}/api/models/gated-org/secret/tree/main`, `${url}/gated-org/secret/resolve/main/secret.gguf`]) {
		let { r, body } = await getJson(u, { redirect: 'manual' });
		assert.equal(r.status, 401);
		assert.equal(r.headers.get('x-error-code'), 'GatedRepo');
		assert.match(r.headers.get('x-error-message'), /^Access to model gated-org\/secret is restricted\. You must have access to it and be authenticated/);
		assert.equal(body.error, r.headers.get('x-error-message'));
		({ r, body } = await getJson(u, { redirect: 'manual', headers: { Authorization: 'Bearer hf_wrong' } }));
		assert.equal(r.status, 403);
		assert.equal(r.headers.get('x-error-code'), 'GatedRepo');
		assert.match(body.error, /not in the authorized list/);
		r = await fetch(u, { redirect: 'manual', headers: { Authorization: `Bearer ${TOKEN}` } });
		assert.ok(r.status === 200 || r.status === 302, String(r.status));
	}
	// the CDN URL issued to the token holder works without it, like the real CDN
	const cdn = await cdnOf('gated-org/secret/secret.gguf', { Authorization: `Bearer ${TOKEN}` });
	const r = await fetch(cdn);
	assert.equal(r.status, 200);
	assert.equal(sha256(Buffer.from(await r.arrayBuffer())), sha256(F.secret));
});

test('429 with Retry-After, for one file or all; 5xx', async () => {
	await reset();
	await faults({ file: 'test-org/small/tiny.gguf', status429: 1, retry_after: 2 });
	let r = await fetch(`${url}/test-org/small/resolve/main/tiny.gguf`, { method: 'HEAD', redirect: 'manual' });
	assert.equal(r.status, 429);
	assert.equal(r.headers.get('retry-after'), '2');
	assert.equal((await fetch(`${url}/test-org/small/resolve/main/tiny.gguf`, { method: 'HEAD', redirect: 'manual' })).status, 302);
	const cdn = await cdnOf('test-org/small/tiny.gguf');
	await faults({ status429: 2, retry_after: 1 });
	assert.equal((await fetch(cdn)).status, 429);
	assert.equal((await fetch(`${url}/test-org/small/resolve/main/README.md`)).status, 429);
	assert.equal((await fetch(cdn)).status, 200);
	await faults({ file: 'test-org/small/tiny.gguf', fail5xx: 2 });
	assert.equal((await fetch(cdn)).status, 500);
	assert.equal((await fetch(cdn)).status, 503);
	assert.equal((await fetch(cdn)).status, 200);
	const q = (await stats()).requests.filter((x) => x.file === 'test-org/small/tiny.gguf').map((x) => x.status);
	assert.deepEqual(q, [429, 302, 302, 429, 200, 500, 503, 200]);
	assert.equal((await fetch(`${url}/__faults`, { method: 'POST', body: '{"file": 3}' })).status, 400);
	assert.equal((await fetch(`${url}/__faults`, { method: 'POST', body: 'nope' })).status, 400);
});

test('cut_after: the client sees a short body, once; the next transfer is whole', async () => {
	await reset();
	const file = 'karpathy/stories/stories260K.gguf';
	const cdn = new URL(await cdnOf(file));
	await faults({ file, cut_after: 100000 });
	let r = await raw(cdn.pathname + cdn.search);
	assert.equal(r.status, 200);
	assert.equal(r.headers['content-length'], String(F.stories.length));
	assert.equal(r.body.length, 100000);
	assert.ok(r.aborted);
	assert.ok(r.body.equals(F.stories.subarray(0, 100000)));
	// the resume
	r = await raw(cdn.pathname + cdn.search, { headers: { Range: 'bytes=100000-' } });
	assert.equal(r.status, 206);
	assert.ok(!r.aborted);
	assert.ok(Buffer.concat([F.stories.subarray(0, 100000), r.body]).equals(F.stories));
	const s = await stats();
	assert.equal(s.bytes[file], F.stories.length);
	assert.deepEqual(s.requests.filter((x) => x.path.startsWith('/cdn/')).map((x) => x.range), [null, 'bytes=100000-']);
	// cut at 0: headers only
	await faults({ file, cut_after: 0 });
	r = await raw(cdn.pathname + cdn.search);
	assert.equal(r.body.length, 0);
	assert.ok(r.aborted);
});

test('corrupt: N bodies with their middle byte flipped under the right ETag', async () => {
	await reset();
	const file = 'test-org/small/tiny.gguf';
	const cdn = await cdnOf(file);
	await faults({ file, corrupt: 2 });
	for (let i = 0; i < 2; i++) {
		const r = await fetch(cdn);
		assert.equal(r.headers.get('etag'), `"${sha256(F.gguf)}"`);
		const b = Buffer.from(await r.arrayBuffer());
		assert.equal(b.length, F.gguf.length);
		const diff = [...b].map((x, j) => (x !== F.gguf[j] ? j : -1)).filter((j) => j >= 0);
		assert.deepEqual(diff, [Math.floor(F.gguf.length / 2)]);
	}
	assert.equal(sha256(Buffer.from(await (await fetch(cdn)).arrayBuffer())), sha256(F.gguf));
	// plain files too
	await faults({ file: 'test-org/small/config.json', corrupt: 1 });
	assert.notEqual(await (await fetch(`${url}/test-org/small/resolve/main/config.json`)).text(), F.config);
	assert.equal(await (await fetch(`${url}/test-org/small/resolve/main/config.json`)).text(), F.config);
});

test('expire: N CDN requests refused as expired signed URLs, then served', async () => {
	await reset();
	const file = 'test-org/small/tiny.gguf';
	const cdn = await cdnOf(file);
	await faults({ file, expire: 2 });
	for (let i = 0; i < 2; i++) {
		const r = await fetch(cdn);
		assert.equal(r.status, 403);
		assert.match(await r.text(), /Request has expired/);
	}
	assert.equal(sha256(Buffer.from(await (await fetch(cdn)).arrayBuffer())), sha256(F.gguf));
});

test('throttle: a transfer at the given rate; 0 lifts it', async () => {
	await reset();
	const file = 'test-org/small/tiny.gguf';
	const cdn = await cdnOf(file);
	await faults({ file, throttle: 5000 }); // 5000 bytes: about 1 s
	let t = Date.now();
	assert.equal(sha256(Buffer.from(await (await fetch(cdn)).arrayBuffer())), sha256(F.gguf));
	const ms = Date.now() - t;
	assert.ok(ms >= 850 && ms < 3000, `${ms} ms`);
	await faults({ file, throttle: 0 });
	t = Date.now();
	await (await fetch(cdn)).arrayBuffer();
	assert.ok(Date.now() - t < 500);
});

test('/__stats counts body bytes per file (partial ones too) and records each request', async () => {
	await reset();
	await fetch(`${url}/test-org/small/resolve/main/README.md`).then((r) => r.text());
	await fetch(`${url}/test-org/small/resolve/main/big.bin`).then((r) => r.arrayBuffer());
	await fetch(`${url}/test-org/small/resolve/main/big.bin`, { headers: { Range: 'bytes=0-99' } }).then((r) => r.arrayBuffer());
	await fetch(`${url}/test-org/small/resolve/main/big.bin`, { method: 'HEAD' });
	await fetch(`${url}/gated-org/secret/resolve/main/secret.gguf`, { headers: { Authorization: `Bearer ${TOKEN}` }, redirect: 'manual' });
	const s = await stats();
	assert.deepEqual(s.bytes, { 'test-org/small/README.md': F.readme.length, 'test-org/small/big.bin': F.big.length + 100 });
		const shapes = s.requests.map((q) => [q.method, q.path.split('?')[0].replace(/[0-9a-f]{64}/, 'SHA'), q.status, q.range, q.auth]);
	assert.deepEqual(shapes, [
		['GET', '/test-org/small/resolve/main/README.md', 200, null, false],
		['GET', '/test-org/small/resolve/main/big.bin', 302, null, false],
		['GET', '/cdn/test-org/small/SHA', 200, null, false],
		['GET', '/test-org/small/resolve/main/big.bin', 302, 'bytes=0-99', false],
		['GET', '/cdn/test-org/small/SHA', 206, 'bytes=0-99', false],
		['HEAD', '/test-org/small/resolve/main/big.bin', 302, null, false],
		['HEAD', '/cdn/test-org/small/SHA', 200, null, false],
		['GET', '/gated-org/secret/resolve/main/secret.gguf', 302, null, true],
	]);
	assert.ok(s.requests.every((q, i) => typeof q.t === 'number' && (i === 0 || q.t >= s.requests[i - 1].t)));
});

test('traversal and bad URLs: 400 or 404, never a file from outside, never a crash', async () => {
	fs.writeFileSync(path.join(tmp, 'outside.txt'), 'secret outside\n');
	const bad = [
		'/test-org/small/resolve/main/../../../outside.txt',
		'/test-org/small/resolve/main/%2e%2e/%2e%2e/%2e%2e/outside.txt',
		'/test-org/small/resolve/main/..%2F..%2F..%2Foutside.txt',
		'/test-org/small/resolve/main/%2F' + encodeURIComponent(path.join(tmp, 'outside.txt')),
		'/test-org/small/resolve/main//' + path.join(tmp, 'outside.txt'),
		'/test-org/small/resolve/main/sub%5C..%5C..%5Coutside.txt',
		'/api/models/test-org/small/tree/main/..%2F..',
		'/api/models/test-org/small/tree/main/%2e%2e',
		'/api/models/..%2F../small/tree/main',
		'/../root/test-org/small/resolve/main/README.md',
		'/cdn/test-org/small/' + 'a'.repeat(64) + '?file=../../../outside.txt',
		'/test-org/small/resolve/main/%zz',
		'/test-org/small/resolve/main/a%00b',
		'/nothing/at/all',
		'/',
	];
	for (const p of bad) {
		const r = await raw(p);
		assert.ok([400, 403, 404].includes(r.status), `${p}: ${r.status}`);
		assert.doesNotMatch(r.body.toString(), /secret outside/);
	}
	const abs = await raw(`http://127.0.0.1/${'x'}`);
	assert.ok([400, 404].includes(abs.status));
	assert.equal((await fetch(`${url}/test-org/small/resolve/main/README.md`)).status, 200, 'still up');
});

test('the official @huggingface/hub client: listFiles, fileDownloadInfo, downloadFile, accessToken', async () => {
	const files = [];
	for await (const f of listFiles({ repo: 'test-org/small', recursive: true, hubUrl: url })) files.push(f);
	const gguf = files.find((f) => f.path === 'tiny.gguf');
	assert.equal(gguf.lfs.oid, sha256(F.gguf));
	assert.equal(files.length, 9);
	const many = [];
	for await (const f of listFiles({ repo: 'many-org/many', hubUrl: url })) many.push(f.path);
	assert.equal(many.length, 25, 'followed the Link header');

	const info = await fileDownloadInfo({ repo: 'karpathy/stories', path: 'stories260K.gguf', hubUrl: url });
	assert.equal(info.size, F.stories.length);
	assert.equal(info.etag, `"${sha256(F.stories)}"`);
	const plain = await fileDownloadInfo({ repo: 'test-org/small', path: 'config.json', hubUrl: url });
	assert.equal(plain.size, F.config.length);
	assert.equal(plain.etag, `"${gitOid(Buffer.from(F.config))}"`);
	assert.equal(await fileDownloadInfo({ repo: 'test-org/small', path: 'nope.txt', hubUrl: url }), null);

	const blob = await downloadFile({ repo: 'karpathy/stories', path: 'stories260K.gguf', hubUrl: url });
	assert.equal(sha256(Buffer.from(await blob.arrayBuffer())), sha256(F.stories));
	const part = await blob.slice(0, 4).text();
	assert.equal(part, 'GGUF');

	await assert.rejects(async () => {
		for await (const f of listFiles({ repo: 'gated-org/secret', hubUrl: url })) void f;
	}, (e) => e.statusCode === 401 && /restricted/.test(e.message));
	await assert.rejects(() => downloadFile({ repo: 'gated-org/secret', path: 'secret.gguf', hubUrl: url, accessToken: 'hf_wrong' }), (e) => e.statusCode === 403);
	const secret = await downloadFile({ repo: 'gated-org/secret', path: 'secret.gguf', hubUrl: url, accessToken: TOKEN });
	assert.equal(sha256(Buffer.from(await secret.arrayBuffer())), sha256(F.secret));
	await assert.rejects(() => downloadFile({ repo: 'test-org/nothing', path: 'x', hubUrl: url }), (e) => e.statusCode === 404);
});
