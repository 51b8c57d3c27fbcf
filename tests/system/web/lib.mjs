// lib.mjs - helpers of the browser system tests of the web UI (ui.test.mjs, screenshots.mjs,
// page_perf.mjs). The browser is Debian's chromium (/usr/bin/chromium, or $CHROMIUM) driven by
// playwright-core over CDP: playwright's own browser downloads are never used (they cannot be
// fetched here), so playwright-core is pinned in package-lock.json and the browser comes from apt.
// It runs headless with --no-sandbox: CI runs as root, where chromium's sandbox refuses to start.
// The servers are real `shoal run` processes started by ../node/lib.mjs's startServer (port 0, the
// URL parsed from the log); a cluster is N of them on loopback, each with a free --node-port and
// --peers naming the others (as tests/system/lib/cluster.sh does); the hub is the stand-in
// tests/system/hub/hub.mjs (as tests/system/node/hub_pull.test.mjs starts it).
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import assert from 'node:assert/strict';
import { chromium } from 'playwright-core';
import { repo, shoal, model, startServer, startHub, sleep, metrics, waitMetrics, freePort, startCluster as startPeers, topology, waitPlan } from '../node/lib.mjs';

export { repo, shoal, model, startServer, startHub, sleep, metrics, waitMetrics, freePort, topology, waitPlan };

export const chromiumPath = process.env.CHROMIUM || '/usr/bin/chromium';

// nodes keep their id and measured capabilities in $XDG_STATE_HOME/shoal: a fresh one per process
// (tests/run.sh sets one per run; a test started by hand must not write into ~)
export const stateHome = fs.mkdtempSync(path.join(os.tmpdir(), 'shoal-web-state-'));
process.on('exit', () => fs.rmSync(stateHome, { recursive: true, force: true }));
const nodeEnv = (env = {}) => ({ XDG_STATE_HOME: stateHome, ...env });

export function launchBrowser() {
	assert.ok(fs.existsSync(chromiumPath), `${chromiumPath} missing: run scripts/install-deps.sh (Debian's chromium)`);
	return chromium.launch({ executablePath: chromiumPath, args: ['--no-sandbox'], headless: true });
}

// a fresh context (own localStorage, cache and cookies) and a page in it, with every console error
// and uncaught page error collected: errors(), and assertNoErrors(allow) which fails on any that no
// regexp of allow matches (matched against "text @ url")
export async function openPage(browser, options = {}) {
	const context = await browser.newContext({ viewport: { width: 1280, height: 800 }, ...options });
	context.setDefaultTimeout(10000); // playwright's 30 s would outlast a test's own timeout
	const page = await context.newPage();
	const errors = [];
	page.on('console', (m) => {
		if (m.type() === 'error') errors.push(`console.error: ${m.text()} @ ${m.location()?.url || ''}`);
	});
	page.on('pageerror', (e) => errors.push(`pageerror: ${e.message}\n${e.stack || ''}`));
	return {
		context,
		page,
		errors: () => errors.slice(),
		assertNoErrors(allow = []) {
			const left = errors.filter((e) => !allow.some((re) => re.test(e)));
			assert.deepEqual(left, [], `console or page errors:\n${left.join('\n')}`);
		},
		close: () => context.close(),
	};
}

// one node alone (the plain engine, --no-discovery): startServer with the fresh state directory
export const startNode = (args = [], { env = {} } = {}) => startServer(args, { env: nodeEnv(env) });

// n nodes on loopback (../node/lib.mjs) with the fresh state directory
export const startCluster = (n, args = [], { env = {}, ...rest } = {}) => startPeers(n, args, { env: nodeEnv(env), ...rest });

// a repo root for the stand-in with the bundled model as test-org/tiny-GGUF/tiny-Q8_0.gguf (the
// quant is read from the file name; its bytes are a real model, so a pulled one can be served)
export function hubRoot(dir) {
	const repoDir = path.join(dir, 'test-org', 'tiny-GGUF');
	fs.mkdirSync(repoDir, { recursive: true });
	fs.copyFileSync(model, path.join(repoDir, 'tiny-Q8_0.gguf'));
	fs.writeFileSync(path.join(repoDir, 'README.md'), '# tiny\nstories260K under another name, for tests.\n');
	return dir;
}

// a non-streaming chat completion: the JSON answer (fails on a status other than 200)
export async function chat(node, body, key) {
	const res = await fetch(`${node.url}/chat/completions`, {
		method: 'POST',
		headers: { 'content-type': 'application/json', ...(key ? { authorization: `Bearer ${key}` } : {}) },
		body: JSON.stringify(body),
	});
	const text = await res.text();
	assert.equal(res.status, 200, `POST /v1/chat/completions: ${res.status} ${text}`);
	return JSON.parse(text);
}

// --- the page (docs/web.md's contract) ---

export const assistants = (page) => page.locator('[data-role="assistant"]');
export const lastReply = (page) => assistants(page).last().locator('[data-content]');

// opens "Settings", sets the inputs named in values ({label: value}), and closes it again: a panel
// that the button toggles (aria-expanded) by the button, a dialog by a button Close/Done/OK/Save in
// it, else Escape
export async function setSettings(page, values) {
	const button = page.getByRole('button', { name: 'Settings', exact: true });
	await button.click();
	for (const [label, value] of Object.entries(values)) {
		const input = page.getByLabel(label, { exact: true });
		await input.fill(String(value));
		await input.dispatchEvent('change');
	}
	const dialog = page.getByRole('dialog');
	if (await dialog.isVisible()) {
		const close = dialog.getByRole('button', { name: /^(close|done|ok|save)$/i });
		if (await close.count()) await close.first().click();
		else await page.keyboard.press('Escape');
		await dialog.waitFor({ state: 'hidden', timeout: 2000 }).catch(() => {});
	} else if ((await button.getAttribute('aria-expanded')) === 'true') {
		await button.click();
	}
}

// types text into "Message" and clicks "Send"; resolves to the chat request the page sent
// (playwright's Request: postDataJSON(), headers(), response())
export async function send(page, text) {
	const req = page.waitForRequest((r) => r.method() === 'POST' && new URL(r.url()).pathname === '/v1/chat/completions');
	await page.getByLabel('Message', { exact: true }).fill(text);
	await page.getByRole('button', { name: 'Send', exact: true }).click();
	return req;
}

// the reply to request is complete: its body is read to the end and the page shows "Send" again
// with no "Stop"
export async function replyDone(page, request, timeoutMs = 20000) {
	const res = await request.response();
	assert.ok(res, 'the chat request got no response');
	await res.finished();
	await page.getByRole('button', { name: 'Stop', exact: true }).waitFor({ state: 'hidden', timeout: timeoutMs });
	await page.getByRole('button', { name: 'Send', exact: true }).waitFor({ state: 'visible', timeout: timeoutMs });
	return res;
}

// records every distinct length the last assistant message's [data-content] text takes, from now
// on, in window.__lengths (a MutationObserver on the whole document: the message does not exist yet)
export function watchReplyLength(page) {
	return page.evaluate(() => {
		window.__lengths = [];
		const look = () => {
			const all = document.querySelectorAll('[data-role="assistant"] [data-content]');
			const el = all[all.length - 1];
			const n = el ? el.textContent.length : 0;
			if (window.__lengths[window.__lengths.length - 1] !== n) window.__lengths.push(n);
		};
		new MutationObserver(look).observe(document.documentElement, { subtree: true, childList: true, characterData: true });
	});
}

export function median(xs) {
	const s = [...xs].sort((a, b) => a - b);
	return s.length % 2 ? s[(s.length - 1) / 2] : (s[s.length / 2 - 1] + s[s.length / 2]) / 2;
}
