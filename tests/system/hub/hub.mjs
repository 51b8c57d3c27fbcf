// hub.mjs - a stand-in for the Hugging Face hub and its CDN, for offline tests of shoal's downloader.
//
//   node tests/system/hub/hub.mjs --root DIR [--port 0] [--page-size 1000] [--host 127.0.0.1]
//
// Serves DIR/ORG/REPO/<files> on --host (127.0.0.1; a test's own network namespace may give another) and
// prints one line, "hub listening on http://HOST:PORT", once ready. It speaks the hub's HTTP interface as huggingface_hub (file_download.py, hf_api.py) and
// @huggingface/hub (list-files, file-download-info, download-file) use it:
//   GET  /api/models/ORG/REPO/tree/REV[/PATH][?recursive=true&expand=true&cursor=C]  JSON entries, paged by a
//        Link: <absolute url>; rel="next" header; PATH and REV may come %2F-encoded (huggingface_hub does that)
//   GET  /api/models/ORG/REPO[/revision/REV][?blobs=true]  model info: sha, siblings, gated
//   GET|HEAD /ORG/REPO/resolve/REV/PATH  plain git files: 200 (or 206 with Range), ETag "<git blob sha1>";
//        LFS files (*.gguf, or >= 1 MiB): 302 to /cdn/..., X-Linked-Etag "<sha256>", X-Linked-Size
//   GET|HEAD /cdn/ORG/REPO/SHA256?file=PATH&Expires=T&Signature=HMAC  the blob, Range/206/416, ETag "<sha256>";
//        the signature (HMAC-SHA256 with a per-process secret) is the CDN's only credential
// REV is "main" or the repo's commit id: sha1 over its file names and sha256s, so stable across restarts.
// DIR/ORG/REPO/.gated holds a token: without "Authorization: Bearer TOKEN" tree and resolve answer 401,
// with another token 403, both with X-Error-Code: GatedRepo, like the real hub.
// Errors carry X-Error-Code (RepoNotFound, RevisionNotFound, EntryNotFound, GatedRepo), X-Error-Message and a
// JSON body {"error": message}: what huggingface_hub's hf_raise_for_status reads.
//
// Control, on the same port (not counted in the stats):
//   POST /__faults  JSON object (or array of them), merged into the faults of "file" ("ORG/REPO/PATH"; omitted:
//        every file): cut_after: B (the next body longer than B bytes stops after B bytes, socket destroyed; once),
//        corrupt: N (the next N bodies of 2 or more bytes have their middle byte flipped), status429: N with
//        retry_after: S (the next N resolve/CDN requests answer 429, Retry-After: S), fail5xx: N (the next N answer
//        500, 503, 500, ...; or "status": 503 for all), throttle: BYTES_PER_SEC (every body at that rate; 0 stops),
//        expire: N (the next N CDN requests answer 403 "Request has expired", as for a signed URL past its Expires).
//        A "body" is any GET that sends file bytes: the CDN or a plain file's resolve.
//   POST /__reset   clears faults and stats
//   GET  /__stats   {bytes: {"ORG/REPO/PATH": body bytes sent, partial ones too},
//                    requests: [{t: ms since start, method, path: url, status, range, auth: bool, file}]}
// HUB_VERBOSE=1 logs one line per request to stderr.
import http from 'node:http';
import fs from 'node:fs';
import fsp from 'node:fs/promises';
import path from 'node:path';
import { createHash, createHmac, randomBytes, timingSafeEqual } from 'node:crypto';

const MiB = 1024 * 1024;
const NAME = /^[A-Za-z0-9][A-Za-z0-9._-]{0,95}$/;
const verbose = process.env.HUB_VERBOSE === '1';
const secret = randomBytes(32);
const t0 = Date.now();

function parseArgs(argv) {
	const o = { root: null, port: 0, pageSize: 1000, host: '127.0.0.1' };
	for (let i = 0; i < argv.length; i++) {
		const v = argv[i + 1];
		if (argv[i] === '--root') o.root = v, i++;
		else if (argv[i] === '--port') o.port = Number(v), i++;
		else if (argv[i] === '--page-size') o.pageSize = Number(v), i++;
		else if (argv[i] === '--host') o.host = v, i++;
		else die(`unknown argument ${argv[i]}`);
	}
	if (!o.root || !fs.statSync(o.root, { throwIfNoEntry: false })?.isDirectory()) die('--root DIR: a directory is needed');
	if (!Number.isInteger(o.port) || o.port < 0 || o.port > 65535) die('--port: 0 to 65535');
	if (!Number.isInteger(o.pageSize) || o.pageSize < 1) die('--page-size: a positive integer');
	o.root = path.resolve(o.root);
	return o;
}
function die(msg) {
	process.stderr.write(`hub.mjs: ${msg}\n`);
	process.exit(2);
}
const opt = parseArgs(process.argv.slice(2));

// ---- repos, files and hashes ----

const sha1 = (data) => createHash('sha1').update(data).digest('hex');
const gitBlobOid = (buf) => sha1(Buffer.concat([Buffer.from(`blob ${buf.length}\0`), buf]));
const isLfs = (p, size) => p.endsWith('.gguf') || size >= MiB;
const lfsPointer = (sha, size) => `version https://git-lfs.github.com/spec/v1\noid sha256:${sha}\nsize ${size}\n`;

const hashCache = new Map(); // absolute path -> {key: size:mtime, p: Promise<{sha256, oid}>}
function hashes(f) {
	const key = `${f.size}:${f.mtimeMs}`;
	let c = hashCache.get(f.abs);
	if (!c || c.key !== key) {
		c = { key, p: computeHashes(f) };
		c.p.catch(() => hashCache.delete(f.abs));
		hashCache.set(f.abs, c);
	}
	return c.p;
}
function computeHashes(f) {
	return new Promise((resolve, reject) => {
		const s256 = createHash('sha256');
		const git = f.lfs ? null : createHash('sha1').update(`blob ${f.size}\0`);
		fs.createReadStream(f.abs)
			.on('data', (d) => (s256.update(d), git?.update(d)))
			.on('error', reject)
			.on('end', () => {
				const sha256 = s256.digest('hex');
				const pointer = lfsPointer(sha256, f.size);
				resolve({ sha256, oid: f.lfs ? gitBlobOid(Buffer.from(pointer)) : git.digest('hex'), pointerSize: pointer.length });
			});
	});
}

// The repo as it is on disk now: {id, dir, token, files: Map(path -> f), dirs: Set(path), commit}; null if none.
async function loadRepo(org, name) {
	if (!NAME.test(org) || !NAME.test(name)) return null;
	const dir = path.join(opt.root, org, name);
	if (!fs.statSync(dir, { throwIfNoEntry: false })?.isDirectory()) return null;
	const files = new Map(), dirs = new Set();
	async function walk(rel) {
		for (const e of await fsp.readdir(path.join(dir, rel), { withFileTypes: true })) {
			const p = rel ? `${rel}/${e.name}` : e.name;
			if (p === '.gated') continue;
			const abs = path.join(dir, p);
			const st = await fsp.stat(abs).catch(() => null);
			if (st?.isDirectory() && !e.isSymbolicLink()) dirs.add(p), await walk(p);
			else if (st?.isFile()) files.set(p, { path: p, abs, size: st.size, mtimeMs: st.mtimeMs, lfs: isLfs(p, st.size) });
		}
	}
	await walk('');
	const sorted = [...files.values()].sort((a, b) => (a.path < b.path ? -1 : 1));
	for (const f of sorted) Object.assign(f, await hashes(f));
	const commit = sha1('shoal-hub\n' + sorted.map((f) => `${f.path} ${f.sha256}\n`).join(''));
	let token = null;
	try {
		token = fs.readFileSync(path.join(dir, '.gated'), 'utf8').trim();
	} catch {}
	return { id: `${org}/${name}`, dir, token, files, dirs, commit, sorted };
}

function treeEntry(repo, p, expand) {
	const f = repo.files.get(p);
	let e;
	if (f) {
		e = { type: 'file', oid: f.oid, size: f.size, path: p };
		if (f.lfs) e.lfs = { oid: f.sha256, size: f.size, pointerSize: f.pointerSize };
	} else {
		const under = repo.sorted.filter((x) => x.path.startsWith(p + '/'));
		e = { type: 'directory', oid: sha1(`tree ${p}\n` + under.map((x) => `${x.path} ${x.oid}\n`).join('')), size: 0, path: p };
	}
	if (expand) e.lastCommit = { id: repo.commit, title: 'Upload folder using huggingface_hub', date: new Date(f ? f.mtimeMs : t0).toISOString() };
	return e;
}

// ---- faults and stats ----

let faults = new Map(); // "ORG/REPO/PATH" or "*" -> {cut_after, corrupt, status429, retry_after, fail5xx, status, throttle}
let stats = { bytes: {}, requests: [] };
const faultsOf = (key) => [faults.get(key), faults.get('*')].filter(Boolean);
function take429(key) {
	const f = faultsOf(key).find((x) => x.status429 > 0);
	if (!f) return null;
	f.status429--;
	return f.retry_after ?? 1;
}
function take5xx(key) {
	const f = faultsOf(key).find((x) => x.fail5xx > 0);
	if (!f) return null;
	f.fail5xx--;
	f.n5xx = (f.n5xx || 0) + 1;
	return f.status || (f.n5xx % 2 ? 500 : 503);
}
function takeCut(key, len) {
	const f = faultsOf(key).find((x) => x.cut_after != null && len > x.cut_after);
	if (!f) return null;
	const n = f.cut_after;
	delete f.cut_after;
	return n;
}
function takeCorrupt(key, len) {
	const f = len >= 2 && faultsOf(key).find((x) => x.corrupt > 0);
	if (!f) return false;
	f.corrupt--;
	return true;
}
const throttleOf = (key) => faultsOf(key).find((x) => x.throttle > 0)?.throttle || 0;
function takeExpire(key) {
	const f = faultsOf(key).find((x) => x.expire > 0);
	if (!f) return false;
	f.expire--;
	return true;
}

const FAULT_FIELDS = ['cut_after', 'corrupt', 'status429', 'retry_after', 'fail5xx', 'status', 'throttle', 'expire'];
function addFaults(list) {
	for (const o of list) {
		if (!o || typeof o !== 'object' || (o.file !== undefined && typeof o.file !== 'string')) throw new Error('each fault is an object; "file" a string');
		const fields = FAULT_FIELDS.filter((k) => o[k] !== undefined);
		if (!fields.length) throw new Error(`no fault given: one of ${FAULT_FIELDS.join(', ')}`);
		for (const k of fields) if (!Number.isInteger(o[k]) || o[k] < 0) throw new Error(`${k}: a non-negative integer`);
		const key = o.file ?? '*';
		const f = faults.get(key) || {};
		for (const k of fields) f[k] = o[k];
		if (f.throttle === 0) delete f.throttle;
		faults.set(key, f);
	}
}

// ---- HTTP helpers ----

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
const drained = (res) =>
	new Promise((resolve) => {
		const done = () => (res.off('drain', done), res.off('close', done), resolve());
		res.on('drain', done);
		res.on('close', done);
	});

function head(res, status, headers = {}) {
	res.rec && (res.rec.status = status);
	res.writeHead(status, { 'X-Request-Id': `Root=${randomBytes(8).toString('hex')}`, ...headers });
}
function send(res, status, body, headers = {}) {
	const buf = Buffer.from(body);
	head(res, status, { 'Content-Length': buf.length, ...headers });
	res.end(buf); // node drops the body of a HEAD response
}
const json = (res, status, obj, headers = {}) => send(res, status, JSON.stringify(obj), { 'Content-Type': 'application/json; charset=utf-8', ...headers });
const hubError = (res, status, code, message, headers = {}) =>
	json(res, status, { error: message }, { ...(code && { 'X-Error-Code': code }), 'X-Error-Message': message, ...headers });
const s3Error = (res, status, code, message) =>
	send(res, status, `<?xml version="1.0" encoding="UTF-8"?>\n<Error><Code>${code}</Code><Message>${message}</Message></Error>`, { 'Content-Type': 'application/xml' });

class BadRequest extends Error {}
// "a/b%2Fc" -> ["a", "b", "c"]; rejects "", ".", "..", backslashes and NULs in any part (so no traversal, no absolute)
function splitPath(rawSegments, decode = true) {
	const parts = [];
	for (const s of rawSegments) {
		let d;
		try {
			d = decode ? decodeURIComponent(s) : s;
		} catch {
			throw new BadRequest('bad percent-encoding');
		}
		for (const p of d.split('/')) {
			if (p === '' || p === '.' || p === '..' || /[\\\0]/.test(p)) throw new BadRequest('bad path');
			parts.push(p);
		}
	}
	return parts;
}

function baseUrl(req) {
	const h = req.headers.host;
	return `http://${h && /^[A-Za-z0-9.:[\]-]+$/.test(h) ? h : `127.0.0.1:${server.address().port}`}`;
}

// null: no Range or one to ignore; 'unsatisfiable'; or {start, end} with end exclusive
function parseRange(h, size) {
	const m = h && /^bytes=(\d*)-(\d*)$/.exec(h.trim());
	if (!m || (m[1] === '' && m[2] === '')) return null;
	if (size === 0) return 'unsatisfiable';
	if (m[1] === '') {
		const n = Number(m[2]);
		return n === 0 ? 'unsatisfiable' : { start: Math.max(0, size - n), end: size };
	}
	const a = Number(m[1]), b = m[2] === '' ? size - 1 : Number(m[2]);
	if (m[2] !== '' && b < a) return null; // invalid: ignored, as RFC 9110 allows
	if (a >= size) return 'unsatisfiable';
	return { start: a, end: Math.min(b, size - 1) + 1 };
}

const disposition = (kind, p) => {
	const base = path.posix.basename(p);
	return `${kind}; filename*=UTF-8''${encodeURIComponent(base)}; filename="${base.replace(/[^\x20-\x7e]|"/g, '_')}";`;
};
function contentType(p) {
	if (/\.(md|txt)$/.test(p)) return 'text/plain; charset=utf-8';
	if (p.endsWith('.json')) return 'application/json; charset=utf-8';
	return 'application/octet-stream';
}

// a file's bytes (or a Range of them), with the faults of key applied
async function serveFile(req, res, f, key, headers) {
	const r = parseRange(req.headers.range, f.size);
	if (r === 'unsatisfiable') return send(res, 416, '', { ...headers, 'Content-Range': `bytes */${f.size}` });
	const start = r ? r.start : 0, end = r ? r.end : f.size;
	head(res, r ? 206 : 200, { ...headers, 'Content-Length': end - start, ...(r && { 'Content-Range': `bytes ${start}-${end - 1}/${f.size}` }) });
	if (req.method === 'HEAD') return res.end();
	const len = end - start, cut = takeCut(key, len), flip = takeCorrupt(key, len) ? start + Math.floor(len / 2) : -1;
	const rate = throttleOf(key), began = Date.now();
	const fh = await fsp.open(f.abs, 'r');
	try {
		let pos = start, sent = 0;
		if (cut === 0) {
			res.flushHeaders();
			return res.socket?.write('', () => res.socket.destroy());
		}
		while (pos < end && !res.destroyed) {
			let n = Math.min(64 * 1024, end - pos);
			if (rate) n = Math.min(n, Math.max(1, Math.floor(rate / 20)));
			if (cut != null) n = Math.min(n, cut - sent);
			const buf = Buffer.allocUnsafe(n);
			const { bytesRead } = await fh.read(buf, 0, n, pos);
			if (bytesRead === 0) break;
			const chunk = buf.subarray(0, bytesRead);
			if (flip >= pos && flip < pos + bytesRead) chunk[flip - pos] ^= 0xff;
			pos += bytesRead;
			sent += bytesRead;
			stats.bytes[key] = (stats.bytes[key] || 0) + bytesRead;
			if (cut != null && sent >= cut) return res.write(chunk, () => res.socket?.destroy());
			if (!res.write(chunk)) await drained(res);
			if (rate) {
				const wait = began + (sent * 1000) / rate - Date.now();
				if (wait > 0) await sleep(wait);
			}
		}
		res.end();
	} finally {
		await fh.close();
	}
}

function cdnUrl(req, repo, f) {
	const expires = Math.floor(Date.now() / 1000) + 3600;
	const sig = sign(repo.id, f.path, f.sha256, expires);
	const q = new URLSearchParams({ file: f.path, 'response-content-disposition': disposition('attachment', f.path), Expires: String(expires), Signature: sig });
	return `${baseUrl(req)}/cdn/${repo.id}/${f.sha256}?${q}`;
}
const sign = (id, p, sha, expires) => createHmac('sha256', secret).update(`${id}\n${p}\n${sha}\n${expires}`).digest('hex');

// 401 / 403 for a gated repo without the right token; true when it answered
function gate(req, res, repo) {
	if (!repo.token) return false;
	const m = /^Bearer\s+(\S+)\s*$/i.exec(req.headers.authorization || '');
	if (m && m[1] === repo.token) return false;
	if (!m)
		hubError(res, 401, 'GatedRepo', `Access to model ${repo.id} is restricted. You must have access to it and be authenticated to access it. Please log in.`);
	else hubError(res, 403, 'GatedRepo', `Access to model ${repo.id} is restricted and you are not in the authorized list. Visit ${baseUrl(req)}/${repo.id} to ask for access.`);
	return true;
}
// 429 / 5xx from the faults; true when it answered
function injected(res, key) {
	const s = take429(key);
	if (s != null)
		return json(res, 429, { error: 'You have been rate-limited; retry later.' }, {
			'Retry-After': String(s),
			RateLimit: `"resolvers";r=0;t=${s}`,
			'RateLimit-Policy': '"fixed window";"resolvers";q=3000;w=300',
		}), true;
	const c = take5xx(key);
	if (c != null) return json(res, c, { error: c === 503 ? 'Service Unavailable' : 'Internal Error' }), true;
	return false;
}
const badRevision = (res, rev) => hubError(res, 404, 'RevisionNotFound', `Invalid rev id: ${rev.replace(/[^\x20-\x7e]/g, '?')}`);
const noRepo = (res) => hubError(res, 404, 'RepoNotFound', 'Repository not found');

// ---- routes ----

async function tree(req, res, repo, rev, parts, query) {
	if (gate(req, res, repo)) return;
	if (rev !== 'main' && rev !== repo.commit) return badRevision(res, rev);
	const dir = parts.join('/');
	if (dir && !repo.dirs.has(dir)) return hubError(res, 404, 'EntryNotFound', `${dir} does not exist on "${rev}"`.replace(/[^\x20-\x7e]/g, '?'), { 'X-Repo-Commit': repo.commit });
	const recursive = query.get('recursive') === 'true' || query.get('recursive') === '1';
	const expand = query.get('expand') === 'true' || query.get('expand') === '1';
	const prefix = dir ? dir + '/' : '';
	const all = [...repo.dirs, ...repo.files.keys()]
		.filter((p) => p.startsWith(prefix) && (recursive || !p.slice(prefix.length).includes('/')))
		.sort();
	let offset = 0;
	const cursor = query.get('cursor');
	if (cursor != null) {
		offset = Number(Buffer.from(cursor, 'base64url').toString());
		if (!Number.isInteger(offset) || offset < 0 || offset > all.length) return hubError(res, 400, null, 'Invalid cursor');
	}
	const page = all.slice(offset, offset + opt.pageSize).map((p) => treeEntry(repo, p, expand));
	const headers = {};
	if (offset + opt.pageSize < all.length) {
		const q = new URLSearchParams(query);
		q.set('cursor', Buffer.from(String(offset + opt.pageSize)).toString('base64url'));
		const u = `${baseUrl(req)}/api/models/${repo.id}/tree/${encodeURIComponent(rev)}${dir ? '/' + dir.split('/').map(encodeURIComponent).join('/') : ''}?${q}`;
		headers.Link = `<${u}>; rel="next"`;
	}
	json(res, 200, page, headers);
}

function modelInfo(req, res, repo, rev, query) {
	if (rev !== 'main' && rev !== repo.commit) return badRevision(res, rev);
	const blobs = query.get('blobs') === 'true';
	const siblings = repo.sorted.map((f) => ({
		rfilename: f.path,
		...(blobs && { blobId: f.oid, size: f.size, ...(f.lfs && { lfs: { sha256: f.sha256, size: f.size, pointerSize: f.pointerSize } }) }),
	}));
	const modified = new Date(Math.max(t0, ...repo.sorted.map((f) => f.mtimeMs))).toISOString();
	json(res, 200, {
		_id: repo.commit.slice(0, 24), id: repo.id, modelId: repo.id, author: repo.id.split('/')[0], sha: repo.commit,
		lastModified: modified, createdAt: modified, private: false, disabled: false, gated: repo.token ? 'manual' : false,
		downloads: 0, likes: 0, tags: repo.sorted.some((f) => f.path.endsWith('.gguf')) ? ['gguf'] : [], siblings,
	});
}

async function resolve(req, res, repo, rev, parts, key) {
	if (req.method !== 'GET' && req.method !== 'HEAD') return send(res, 405, 'Method Not Allowed', { Allow: 'GET, HEAD' });
	if (injected(res, key)) return;
	if (gate(req, res, repo)) return;
	if (rev !== 'main' && rev !== repo.commit) return badRevision(res, rev);
	const f = repo.files.get(parts.join('/'));
	if (!f) return hubError(res, 404, 'EntryNotFound', 'Entry not found', { 'X-Repo-Commit': repo.commit });
	const common = { 'X-Repo-Commit': repo.commit, 'Accept-Ranges': 'bytes', Vary: 'Origin, Accept' };
	if (f.lfs) {
		const location = cdnUrl(req, repo, f);
		return send(res, 302, `Found. Redirecting to ${location}`, {
			...common, 'Content-Type': 'text/plain; charset=utf-8', Location: location,
			'X-Linked-Size': String(f.size), 'X-Linked-Etag': `"${f.sha256}"`, ETag: `"${f.oid}"`,
		});
	}
	await serveFile(req, res, f, key, { ...common, 'Content-Type': contentType(f.path), ETag: `"${f.oid}"`, 'Content-Disposition': disposition('inline', f.path) });
}

async function cdn(req, res, org, name, sha, query) {
	if (req.method !== 'GET' && req.method !== 'HEAD') return send(res, 405, 'Method Not Allowed', { Allow: 'GET, HEAD' });
	const file = query.get('file') || '', expires = query.get('Expires') || '', sig = query.get('Signature') || '';
	if (!file || !sig) return s3Error(res, 403, 'AccessDenied', 'Access denied');
	const parts = splitPath([file], false);
	const key = `${org}/${name}/${parts.join('/')}`;
	res.rec.file = key;
	if (injected(res, key)) return;
	const want = /^[0-9a-f]{64}$/.test(sha) && /^\d{1,12}$/.test(expires) ? Buffer.from(sign(`${org}/${name}`, parts.join('/'), sha, Number(expires)), 'hex') : null;
	const got = /^[0-9a-f]{64}$/.test(sig) ? Buffer.from(sig, 'hex') : null;
	if (!want || !got || !timingSafeEqual(want, got)) return s3Error(res, 403, 'AccessDenied', 'Access denied');
	if (Number(expires) * 1000 < Date.now() || takeExpire(key)) return s3Error(res, 403, 'AccessDenied', 'Request has expired');
	const repo = await loadRepo(org, name);
	const f = repo?.files.get(parts.join('/'));
	if (!f || !f.lfs || f.sha256 !== sha) return s3Error(res, 404, 'NoSuchKey', 'The specified key does not exist.');
	await serveFile(req, res, f, key, {
		'Content-Type': 'application/octet-stream', ETag: `"${f.sha256}"`, 'Accept-Ranges': 'bytes',
		'Content-Disposition': disposition('attachment', f.path), 'Last-Modified': new Date(f.mtimeMs).toUTCString(), 'X-Cache': 'Hit from cloudfront',
	});
}

function readBody(req, limit = 1 << 20) {
	return new Promise((resolve, reject) => {
		let size = 0;
		const chunks = [];
		req.on('data', (d) => ((size += d.length) > limit ? reject(new BadRequest('body too large')) : chunks.push(d)));
		req.on('end', () => resolve(Buffer.concat(chunks).toString('utf8')));
		req.on('error', reject);
	});
}

async function control(req, res, what) {
	if (what === '__stats' && req.method === 'GET') return json(res, 200, stats);
	if (what === '__reset' && req.method === 'POST') {
		await readBody(req);
		faults = new Map();
		stats = { bytes: {}, requests: [] };
		return json(res, 200, { ok: true });
	}
	if (what === '__faults' && req.method === 'POST') {
		let body;
		try {
			body = JSON.parse(await readBody(req));
			addFaults(Array.isArray(body) ? body : [body]);
		} catch (e) {
			return json(res, 400, { error: String(e.message || e) });
		}
		return json(res, 200, { ok: true, faults: Object.fromEntries(faults) });
	}
	if (what === '__faults' && req.method === 'GET') return json(res, 200, Object.fromEntries(faults));
	json(res, 404, { error: 'Not found' });
}

async function route(req, res) {
	const url = req.url;
	if (!url.startsWith('/')) throw new BadRequest('bad request target');
	const qi = url.indexOf('?');
	const raw = (qi < 0 ? url : url.slice(0, qi)).split('/').slice(1);
	const query = new URLSearchParams(qi < 0 ? '' : url.slice(qi + 1));
	if (raw.length === 1 && raw[0].startsWith('__')) return control(req, res, raw[0]);
	res.rec = { t: Date.now() - t0, method: req.method, path: url, status: null, range: req.headers.range ?? null, auth: !!req.headers.authorization };
	stats.requests.push(res.rec);
	const seg = splitPath(raw.filter((s, i) => s !== '' || i !== raw.length - 1)); // a trailing "/" is harmless

	if (seg[0] === 'api' && seg[1] === 'models' && seg.length >= 4) {
		const repo = await loadRepo(seg[2], seg[3]);
		if (!repo) return noRepo(res);
		if (seg[4] === 'tree' && seg.length >= 6) {
			// the revision is one raw segment (maybe %2F-encoded): find it among the raw ones
			const rev = decodeURIComponent(raw[5]);
			return tree(req, res, repo, rev, splitPath(raw.slice(6).filter((s) => s !== '')), query);
		}
		if (seg.length === 4) return modelInfo(req, res, repo, 'main', query);
		if (seg[4] === 'revision' && seg.length === 6) return modelInfo(req, res, repo, seg[5], query);
		return json(res, 404, { error: 'Not found' });
	}
	if (seg[0] === 'cdn' && seg.length === 4) return cdn(req, res, seg[1], seg[2], seg[3], query);
	if (seg[2] === 'resolve' && seg.length >= 5) {
		const key = `${seg[0]}/${seg[1]}/${seg.slice(4).join('/')}`;
		res.rec.file = key;
		const repo = await loadRepo(seg[0], seg[1]);
		if (!repo) return noRepo(res);
		return resolve(req, res, repo, seg[3], seg.slice(4), key);
	}
	json(res, 404, { error: 'Not found' });
}

const server = http.createServer((req, res) => {
	const began = Date.now();
	res.on('close', () => {
		if (verbose) process.stderr.write(`hub: ${req.method} ${req.url} ${res.statusCode}${req.headers.range ? ` (${req.headers.range})` : ''} ${Date.now() - began} ms\n`);
	});
	route(req, res).catch((e) => {
		if (res.headersSent) return res.destroy();
		if (e instanceof BadRequest) return json(res, 400, { error: e.message });
		process.stderr.write(`hub: ${req.method} ${req.url}: ${e.stack || e}\n`);
		json(res, 500, { error: 'Internal Error' });
	});
});
server.on('clientError', (err, socket) => {
	if (socket.writable) socket.end('HTTP/1.1 400 Bad Request\r\nConnection: close\r\nContent-Length: 0\r\n\r\n');
	else socket.destroy();
});
process.on('uncaughtException', (e) => process.stderr.write(`hub: ${e.stack || e}\n`));
process.on('SIGTERM', () => process.exit(0));
server.listen(opt.port, opt.host, () => process.stdout.write(`hub listening on http://${opt.host}:${server.address().port}\n`));
