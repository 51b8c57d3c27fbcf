// screenshots.mjs - the web UI's pictures for the docs (run by hand, not a test):
//   node tests/system/web/screenshots.mjs [OUTDIR]      (SHOAL=path/to/shoal; OUTDIR: docs/img)
// Starts the hub stand-in with a small repo and a 3-node loopback cluster on stories260K whose
// nodes pull from it (HF_ENDPOINT, a temp HF_HUB_CACHE), pulls test-org/tiny-GGUF:Q8_0 through the
// API so the models view has a cache entry, waits for the plan of 3, then in headless chromium, at
// desktop (1280x800) and phone (390x844) size, deviceScaleFactor 1, light scheme: a short greedy chat
// on node 1, then the Models and Cluster views. Writes OUTDIR/{chat,models,cluster}-{desktop,phone}.png.
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import assert from 'node:assert/strict';
import { repo, launchBrowser, openPage, startCluster, startHub, hubRoot, waitPlan, sleep, setSettings, send, replyDone } from './lib.mjs';

const out = path.resolve(process.argv[2] || path.join(repo, 'docs/img'));
fs.mkdirSync(out, { recursive: true });
const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'shoal-shots-'));
const hub = await startHub(hubRoot(path.join(tmp, 'hub')));
const nodes = await startCluster(3, [], { env: { HF_ENDPOINT: hub.url, HF_HUB_CACHE: path.join(tmp, 'cache'), HF_TOKEN: '' } });
const browser = await launchBrowser();
try {
	const pull = await fetch(`${nodes[0].base}/api/pull`, { method: 'POST', body: JSON.stringify({ model: 'test-org/tiny-GGUF:Q8_0', stream: false }) });
	const pulled = await pull.json();
	assert.equal(pulled.status, 'success', JSON.stringify(pulled));
	await waitPlan(nodes, 3);
	const sizes = { desktop: { width: 1280, height: 800 }, phone: { width: 390, height: 844 } };
	for (const [name, viewport] of Object.entries(sizes)) {
		const p = await openPage(browser, { viewport, deviceScaleFactor: 1, colorScheme: 'light', isMobile: name === 'phone', hasTouch: name === 'phone' });
		const { page } = p;
		await page.goto(`${nodes[0].base}/#chat`);
		await setSettings(page, { Temperature: 0, 'Max tokens': 60 });
		await replyDone(page, await send(page, 'Tell me a story about a little fish.'));
		await replyDone(page, await send(page, 'What happened next?'));
		await sleep(300);
		await page.screenshot({ path: path.join(out, `chat-${name}.png`) });

		await page.goto(`${nodes[0].base}/#models`);
		await page.locator('[data-model-ref]').first().waitFor();
		await sleep(300);
		await page.screenshot({ path: path.join(out, `models-${name}.png`) });

		await page.goto(`${nodes[0].base}/#cluster`);
		await page.waitForFunction(() => document.querySelectorAll('[data-node-id]').length === 3);
		await sleep(1500); // a few polls: rates and tokens per second filled in
		await page.screenshot({ path: path.join(out, `cluster-${name}.png`) });
		p.assertNoErrors();
		await p.close();
		console.log(`${name}: ${['chat', 'models', 'cluster'].map((v) => path.join(out, `${v}-${name}.png`)).join(' ')}`);
	}
} finally {
	await browser.close();
	await Promise.all(nodes.map((n) => n.stop()));
	hub.stop();
	fs.rmSync(tmp, { recursive: true, force: true });
}
