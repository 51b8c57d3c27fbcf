// ui.test.mjs - the web UI in a real browser (Debian's chromium, headless, driven by playwright-core)
// against real `shoal run` nodes on stories260K, checked against docs/web.md's contract: the labels
// ("Message", "Send", "Stop", "Settings", "Temperature", "Max tokens", "Model reference", "Pull", "Serve",
// "Model to serve", "Switch",
// "API key", "Save", "Copy code"), the data attributes (data-role, data-content, data-node-id,
// data-state, data-model-ref) and the endpoints. One browser for the file, a fresh context (own
// localStorage) per test; every test also fails on any console error or uncaught page error.
//   serving  / is HTML naming /ui/app.js and /ui/app.css by version, never cached; the assets gzipped
//            and cached for a year
//   chat     the streamed reply equals the API's non-streaming answer to the very request the page
//            sent (greedy); it grew through at least 2 lengths before its last; Stop ends a long
//            reply (the text stops growing, the server stops generating, Send is back); a reload
//            keeps the conversation; markdown from the model with <script>, an onerror handler and
//            a javascript: link is inert, its code block highlighted with a "Copy code" button
//   cluster  a 3-node loopback cluster: a card per node with its layer range; a node killed with
//            kill -9 shows as dead within 2 s of the kill (--peer-timeout 1: see the test)
//   models   a pull from the hub stand-in (throttled, so its progress is seen) shows a live
//            progress element, then the model in the cache list, whose "Serve" switches the node
//            to it; a 3-node cluster asked to switch to a model too big for it says needed
//            against available, and serves on
//   api key  with --api-key, the page asks for the key, keeps it and then chats
// One node serves the chat tests; the cluster, the pull and the key each start their own.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import {
	shoal, model, launchBrowser, openPage, startNode, startCluster, waitPlan, topology, startHub, hubRoot, chat, metrics,
	waitMetrics, sleep, setSettings, send, replyDone, watchReplyLength, lastReply, assistants,
} from './lib.mjs';

const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'shoal-web-'));
let browser, node;

before(async () => {
	[browser, node] = await Promise.all([launchBrowser(), startNode()]);
});

after(async () => {
	await browser?.close();
	await node?.stop();
	fs.rmSync(tmp, { recursive: true, force: true });
});

// a chat test: a fresh page on the chat node (or on another base), closed and checked for errors
// init: a function run in the page before its own scripts on every load (playwright's addInitScript)
async function withPage(fn, { base = node.base, hash = '#chat', allow = [], options, init, arg } = {}) {
	const p = await openPage(browser, options);
	try {
		if (init) await p.context.addInitScript(init, arg);
		await p.page.goto(`${base}/${hash}`);
		await fn(p.page, p);
		p.assertNoErrors(allow);
	} finally {
		await p.close();
	}
}

const stored = (page) => page.evaluate(() => JSON.parse(localStorage.getItem('shoal.conversations') || 'null'));

test('the page and its assets are served: no-cache page, gzipped assets cached by version', { timeout: 10000 }, async () => {
	const page = await fetch(`${node.base}/`, { headers: { accept: 'text/html' } });
	assert.equal(page.status, 200);
	assert.match(page.headers.get('content-type'), /^text\/html/);
	assert.match(page.headers.get('cache-control') || '', /no-cache|no-store|max-age=0/);
	const html = await page.text();
	const js = html.match(/\/ui\/app\.js\?v=[^"'\s>]+/)?.[0];
	const css = html.match(/\/ui\/app\.css\?v=[^"'\s>]+/)?.[0];
	assert.ok(js && css, `the page does not name its versioned assets: ${html.slice(0, 500)}`);
	for (const [asset, type] of [[js, /javascript/], [css, /^text\/css/]]) {
		const res = await fetch(node.base + asset, { headers: { 'accept-encoding': 'gzip' } });
		assert.equal(res.status, 200, asset);
		assert.match(res.headers.get('content-type'), type, asset);
		assert.equal(res.headers.get('content-encoding'), 'gzip', asset);
		assert.match(res.headers.get('cache-control') || '', /max-age=(3153600\d|[4-9]\d{7,})/, asset);
		assert.ok(res.headers.get('etag'), asset);
		assert.ok((await res.arrayBuffer()).byteLength > 0);
	}
});

test('a message gets a streamed reply equal to the API\'s answer to the same request', { timeout: 30000 }, () =>
	withPage(async (page) => {
		// 1000 tokens: stories260K writes about 4000 a second here, and the page draws at most once
		// a frame, so a short reply may arrive and be drawn whole; 1000 take long enough to be seen
		// growing
		await setSettings(page, { Temperature: 0, 'Max tokens': 1000 });
		await watchReplyLength(page);
		// and the reply arrives at 40 kB/s (Chromium's own network throttling), so it takes seconds
		// whatever the machine's speed: a busy browser drew 2159 of 2317 characters in its first frame
		const cdp = await page.context().newCDPSession(page);
		await cdp.send('Network.enable');
		await cdp.send('Network.emulateNetworkConditions', { offline: false, latency: 0, downloadThroughput: 40000, uploadThroughput: -1 });
		const req = await send(page, 'Tell me a story about a cat.');
		await replyDone(page, req);
		const body = req.postDataJSON();
		assert.equal(body.stream, true, JSON.stringify(body));
		assert.equal(body.temperature, 0, JSON.stringify(body));
		assert.equal(body.max_tokens, 1000, JSON.stringify(body));
		assert.deepEqual(body.messages.at(-1), { role: 'user', content: 'Tell me a story about a cat.' });

		// the same request, not streamed
		const { stream, stream_options, ...rest } = body;
		const want = (await chat(node, { ...rest, stream: false })).choices[0].message.content;
		assert.ok(want.trim().length > 0, 'the API answered nothing');
		const shown = await lastReply(page).textContent();
		assert.equal(shown.trim(), want.trim(), 'the reply shown is not the API\'s answer');
		// what the page keeps is the raw text, exactly
		const convs = await stored(page);
		const msgs = (Array.isArray(convs) ? convs : Object.values(convs || {})).flatMap((c) => c.messages || []);
		assert.ok(msgs.some((m) => m.role === 'assistant' && m.content.trim() === want.trim()), `shoal.conversations: ${JSON.stringify(convs)}`);

		// it streamed: at least 2 distinct non-empty lengths before the final one
		const lengths = await page.evaluate(() => window.__lengths);
		const final = shown.length;
		const before = [...new Set(lengths.filter((n) => n > 0 && n < final))];
		assert.ok(before.length >= 2, `the reply did not grow in steps: lengths ${JSON.stringify(lengths)}, final ${final}`);
		console.log(`# the reply was drawn at ${before.length} lengths before its last (${final} characters)`);
		assert.equal(await page.locator('[data-role="error"]').count(), 0);
	}));

test('Stop ends a long reply: the text stops growing, the server stops, Send is back', { timeout: 30000 }, () =>
	withPage(async (page) => {
		await setSettings(page, { Temperature: 0.9, 'Max tokens': 2000 });
		const m0 = await metrics(node.base);
		// Stop is clicked from inside the page the moment the reply has text: a click through
		// playwright waits for the page's frames, which redraw a growing reply, and would come
		// when the server (about 4000 tokens a second) is nearly done anyway
		await page.evaluate(() => {
			const look = () => {
				const all = document.querySelectorAll('[data-role="assistant"] [data-content]');
				const text = all.length ? all[all.length - 1].textContent : '';
				const stop = [...document.querySelectorAll('button')].find((b) => b.textContent.trim() === 'Stop');
				if (window.__stoppedAt === undefined && text.trim() && stop) {
					window.__stoppedAt = text.length;
					stop.click();
				}
			};
			new MutationObserver(look).observe(document.documentElement, { subtree: true, childList: true, characterData: true });
		});
		await send(page, 'Tell me a long story.');
		await page.waitForFunction(() => window.__stoppedAt !== undefined, null, { timeout: 10000 });
		await page.getByRole('button', { name: 'Send', exact: true }).waitFor({ state: 'visible', timeout: 2000 });
		const len = (await lastReply(page).textContent()).length;
		assert.ok(len > 0);
		await sleep(1000);
		assert.equal((await lastReply(page).textContent()).length, len, 'the reply grew after Stop');
		assert.equal(await page.getByRole('button', { name: 'Stop', exact: true }).count(), 0, 'Stop still shown');
		// the server was told: the request ended long before its 2000 tokens
		const m1 = await waitMetrics(node.base, (m) => m.shoal_slots_active === 0, 5000, 'the slot freed');
		const generated = m1.shoal_generated_tokens_total - m0.shoal_generated_tokens_total;
		assert.ok(generated < 2000, `${generated} tokens generated after Stop`);
		console.log(`# Stop clicked at ${await page.evaluate(() => window.__stoppedAt)} characters, the reply kept ${len}; the server generated ${generated} of the 2000 tokens`);
		assert.equal(await page.locator('[data-role="error"]').count(), 0, 'Stop showed an error');
	}));

test('a reload keeps the conversation', { timeout: 30000 }, () =>
	withPage(async (page) => {
		await setSettings(page, { Temperature: 0, 'Max tokens': 40 });
		await replyDone(page, await send(page, 'Once upon a time'));
		const userText = (page) => page.locator('[data-role="user"] [data-content]').last().textContent();
		const user = await userText(page);
		const reply = await lastReply(page).textContent();
		assert.match(user, /Once upon a time/);
		assert.ok(reply.trim().length > 0);
		await page.reload();
		await page.locator('[data-role="user"]').first().waitFor({ timeout: 5000 });
		assert.equal(await page.locator('[data-role="user"]').count(), 1);
		assert.equal(await assistants(page).count(), 1);
		assert.equal(await userText(page), user);
		assert.equal(await lastReply(page).textContent(), reply);
		// and the settings
		await page.getByRole('button', { name: 'Settings', exact: true }).click();
		assert.equal(await page.getByLabel('Max tokens', { exact: true }).inputValue(), '40');
		assert.equal(Number(await page.getByLabel('Temperature', { exact: true }).inputValue()), 0);
	}));

const EVIL = [
	'Here is **bold** and a [link](javascript:window.__pwned=3).',
	'',
	'<script>window.__pwned=1</script>',
	'',
	'<img src=x onerror="window.__pwned=2">',
	'',
	'<a href="javascript:window.__pwned=4" onclick="window.__pwned=5">click</a>',
	'',
	'```js',
	'function add(a, b) {',
	'  return a + b; // sum',
	'}',
	'```',
	'',
].join('\n');

// the seeded reply's markdown is shown with nothing of it run, the code block highlighted
async function inert(page) {
	const msg = assistants(page).last();
	await msg.locator('[data-content]').waitFor({ timeout: 5000 });
	await msg.locator('strong', { hasText: 'bold' }).waitFor({ timeout: 2000 });
	await page.waitForLoadState('load'); // the <img src=x> (if kept) has failed by now
	await sleep(300);
	assert.equal(await page.evaluate(() => window.__pwned), undefined, 'a script or handler of the markdown ran');
	assert.equal(await msg.locator('script').count(), 0, 'a script element in the message');
	assert.equal(await msg.locator('[onerror], [onclick], [onload]').count(), 0, 'an event handler attribute in the message');
	for (const img of await msg.locator('img').all()) assert.equal(await img.getAttribute('onerror'), null);
	for (const a of await msg.locator('a[href]').all()) assert.doesNotMatch(await a.getAttribute('href'), /^\s*javascript:/i);
	// the code block: highlighted, with its copy button
	const code = msg.locator('pre code');
	assert.equal(await code.count(), 1);
	assert.match(await code.textContent(), /function add\(a, b\)/);
	assert.ok(await msg.locator('.hljs').count() >= 1, 'no element with class hljs');
	assert.ok(await msg.locator('.hljs-keyword').count() >= 1, 'the code is not highlighted');
	assert.equal(await msg.getByRole('button', { name: 'Copy code' }).count(), 1);
}

test('markdown with <script> and handlers from the model is rendered inert, code highlighted', { timeout: 30000 }, () =>
	withPage(
		async (page) => {
			await inert(page);
			// and again from what the page saved itself
			await page.reload();
			await inert(page);
		},
		{
			// the stored conversation, as a model's reply would have left it, before the page's
			// scripts run on its first load (a seed written after the load could be overwritten by
			// the page saving its own state on unload)
			init: (content) => {
				if (sessionStorage.getItem('seeded')) return;
				sessionStorage.setItem('seeded', '1');
				const conv = { id: 'xss-test', title: 'XSS', messages: [{ role: 'user', content: 'show me' }, { role: 'assistant', content }] };
				localStorage.setItem('shoal.conversations', JSON.stringify([conv]));
				localStorage.setItem('shoal.current', 'xss-test');
			},
			arg: EVIL,
			allow: [
				// the kept <img src=x> (if the sanitizer keeps images) is fetched and answers 404
				/Failed to load resource: the server responded with a status of 404.*@ http:\/\/127\.0\.0\.1:\d+\/x$/,
				// chromium checks the page's CSP (script-src 'self') on the onerror attribute when
				// DOMPurify parses the markdown's HTML into its inert document (DOMParser, in app.js),
				// and logs it as blocked: nothing runs there, and the checks above find no handler
				// left in the page
				/Executing inline event handler violates the following Content Security Policy directive 'script-src 'self''.* @ http:\/\/127\.0\.0\.1:\d+\/ui\/app\.js\?v=\w+$/,
			],
		},
	));

test('the cluster view: a card per node with its layers; a node killed shows dead within 2 s', { timeout: 40000 }, async () => {
	// --peer-timeout 1: a silent peer is dead after 1 s (the default 1.5 s, plus the page's 500 ms
	// poll, would leave the page no margin in 2 s)
	const nodes = await startCluster(3, ['--peer-timeout', '1']);
	try {
		const topo = await waitPlan(nodes, 3);
		await withPage(
			async (page) => {
				const cards = page.locator('[data-node-id]');
				await page.waitForFunction(() => document.querySelectorAll('[data-node-id]').length === 3, null, { timeout: 5000 });
				const ids = await cards.evaluateAll((els) => els.map((e) => e.dataset.nodeId));
				assert.deepEqual([...ids].sort(), topo.nodes.map((n) => n.id).sort());
				// each shows its range: FIRST..LAST (LAST exclusive as in the topology, or inclusive)
				const ranges = Object.fromEntries(topo.nodes.map((n) => [n.id, n.layers]));
				await page.waitForFunction(
					(ranges) =>
						Object.entries(ranges).every(([id, [a, b]]) => {
							const el = document.querySelector(`[data-node-id="${id}"]`);
							const t = el ? el.textContent : '';
							const sep = '\\s*(?:-|–|—|\\.\\.\\.?|…|to)\\s*';
							return new RegExp(`(?<!\\d)${a}${sep}(?:${b}|${b - 1})(?!\\d)`).test(t) || (b - a === 1 && new RegExp(`layer\\s*${a}(?!\\d)`, 'i').test(t));
						}),
					ranges,
					{ timeout: 5000 },
				);
				const self = topo.nodes.find((n) => n.state === 'self');
				assert.equal(await page.locator(`[data-node-id="${self.id}"]`).getAttribute('data-state'), 'self');
				// the victim: another node than the one serving the page
				const victim = nodes[2];
				const vid = (await topology(victim)).nodes.find((n) => n.state === 'self').id;
				assert.equal(await page.locator(`[data-node-id="${vid}"]`).getAttribute('data-state'), 'alive');
				const t0 = Date.now();
				victim.proc.kill('SIGKILL');
				// when the node itself says so (polled every 20 ms), to tell the server's part from the page's
				let serverMs = null;
				const server = (async () => {
					while (serverMs === null && Date.now() - t0 < 5000) {
						const t = await topology(nodes[0]).catch(() => null);
						if (t?.nodes.find((n) => n.id === vid)?.state === 'dead') serverMs = Date.now() - t0;
						else await sleep(20);
					}
				})();
				await page.locator(`[data-node-id="${vid}"][data-state="dead"]`).waitFor({ timeout: 5000 });
				const ms = Date.now() - t0;
				await server;
				console.log(`# the card showed dead ${ms} ms after kill -9 (the node's topology: ${serverMs} ms)`);
				assert.ok(ms < 2000, `the card showed dead ${ms} ms after the kill (the node's topology said so after ${serverMs} ms)`);
				for (const n of topo.nodes.filter((n) => n.id !== vid))
					assert.notEqual(await page.locator(`[data-node-id="${n.id}"]`).getAttribute('data-state'), 'dead');
			},
			{ base: nodes[0].base, hash: '#cluster' },
		);
	} finally {
		nodes[2].proc.kill('SIGKILL');
		await Promise.all(nodes.slice(0, 2).map((n) => n.stop()));
	}
});

test('a pull from the hub shows live progress, then the model in the cache list', { timeout: 40000 }, async () => {
	const root = hubRoot(path.join(tmp, 'hub'));
	const cache = path.join(tmp, 'cache');
	const hub = await startHub(root);
	const file = 'test-org/tiny-GGUF/tiny-Q8_0.gguf';
	const size = fs.statSync(path.join(root, file)).size;
	await hub.faults({ file, throttle: 300 * 1024 }); // about 4 s for the 1.2 MB
	const puller = await startNode([], { env: { HF_ENDPOINT: hub.url, HF_HUB_CACHE: cache, HF_TOKEN: '' } });
	const ref = 'test-org/tiny-GGUF:Q8_0';
	const listed = (page) =>
		page.locator('[data-model-ref]').evaluateAll((els, ref) => els.some((e) => e.dataset.modelRef.includes(ref) || e.textContent.includes(ref)), ref);
	try {
		await withPage(
			async (page) => {
				await page.getByLabel('Model reference', { exact: true }).waitFor();
				assert.equal(await listed(page), false, 'listed before the pull');
				const t0 = Date.now();
				await page.getByLabel('Model reference', { exact: true }).fill(ref);
				await page.getByRole('button', { name: 'Pull', exact: true }).click();
				// live: a progress element part way
				const part = await page.waitForFunction(
					() => [...document.querySelectorAll('progress')].map((p) => [p.value, p.max]).find(([v, m]) => v > 0 && v < m),
					null,
					{ timeout: 10000, polling: 100 },
				);
				const [v, m] = await part.jsonValue();
				console.log(`# progress ${v} of ${m} after ${Date.now() - t0} ms`);
				await page.waitForFunction(
					(ref) => [...document.querySelectorAll('[data-model-ref]')].some((e) => e.dataset.modelRef.includes(ref) || e.textContent.includes(ref)),
					ref,
					{ timeout: 20000, polling: 100 },
				);
				console.log(`# listed after ${Date.now() - t0} ms`);
				assert.ok(Date.now() - t0 > 2000, 'the throttled pull ended too soon to be a real download');
				// it is in the cache for real, whole
				const blobs = path.join(cache, 'models--test-org--tiny-GGUF', 'blobs');
				const sizes = fs.readdirSync(blobs).map((b) => fs.statSync(path.join(blobs, b)).size);
				assert.deepEqual(sizes, [size]);
				assert.ok((await hub.stats()).bytes[file] >= size);
				// serve it: the node switches, the page says so and shows it served
				const entry = page.locator(`[data-model-ref="${ref}"]`);
				await entry.getByRole('button', { name: 'Serve', exact: true }).click();
				await page.getByRole('status').filter({ hasText: `Now serving ${ref}.` }).waitFor({ timeout: 20000 });
				await page.locator('section.models').getByText(ref, { exact: true }).first().waitFor();
				// the chat names the model served now
				await page.getByRole('button', { name: 'Chat', exact: true }).click();
				await page.locator('.model', { hasText: ref }).waitFor();
				await page.getByRole('button', { name: 'Models', exact: true }).click();
				const models = await (await fetch(`${puller.url}/models`)).json();
				assert.deepEqual(models.data.map((m) => m.id), [ref]);
				await entry.getByText('served', { exact: true }).waitFor();
			},
			{ base: puller.base, hash: '#models' },
		);
	} finally {
		hub.stop();
		await puller.stop();
	}
});

test('switching a cluster to a model too big for it: the error says needed against available', { timeout: 40000 }, async () => {
	// stories260K needs ~12 MB here, test-mid ~230 MB: 3 x 12 MiB holds the one, not the other
	const mid = path.join(tmp, 'mid-Q8_0.gguf');
	execFileSync(shoal, ['synth', '--preset', 'test-mid', '--type', 'q8_0', '--vocab', model, '-o', mid], { stdio: 'ignore' });
	const nodes = await startCluster(3, ['--memory-limit', '12M']);
	try {
		await waitPlan(nodes, 3);
		await withPage(
			async (page) => {
				await page.getByLabel('Model to serve', { exact: true }).fill(mid);
				await page.getByRole('button', { name: 'Switch', exact: true }).click();
				const alert = page.getByRole('alert');
				await alert.waitFor({ timeout: 20000 });
				assert.match(await alert.textContent(), /does not fit the cluster: it needs \d+ bytes .*the cluster has \d+ bytes .*on 3 nodes/);
				await page.locator('section.models').getByText('stories260K', { exact: true }).first().waitFor();
				for (const n of nodes) assert.deepEqual((await (await fetch(`${n.url}/models`)).json()).data.map((m) => m.id), ['stories260K']);
			},
			{ base: nodes[1].base, hash: '#models' },
		);
	} finally {
		for (const n of nodes) await n.stop();
	}
});

test('with --api-key the page asks for the key, keeps it and chats', { timeout: 30000 }, async () => {
	const keyed = await startNode(['--api-key', 'secret']);
	try {
		await withPage(
			async (page) => {
				const keyBox = page.getByLabel('API key', { exact: true });
				// the page asks on its first 401: on load, or else on the first message
				let asked = await keyBox.waitFor({ timeout: 3000 }).then(() => true, () => false);
				if (!asked) {
					await page.getByLabel('Message', { exact: true }).fill('hello');
					await page.getByRole('button', { name: 'Send', exact: true }).click();
					await keyBox.waitFor({ timeout: 3000 });
				}
				console.log(`# the key was asked ${asked ? 'on load' : 'on the first message'}`);
				assert.ok(await page.getByRole('dialog').isVisible(), 'the key is not asked in a dialog');
				await keyBox.fill('secret');
				await page.getByRole('dialog').getByRole('button', { name: 'Save', exact: true }).click();
				await keyBox.waitFor({ state: 'hidden', timeout: 2000 });
				assert.equal(await page.evaluate(() => localStorage.getItem('shoal.api_key')), 'secret');
				await setSettings(page, { Temperature: 0, 'Max tokens': 40 });
				const req = await send(page, 'Once upon a time');
				assert.equal(req.headers().authorization, 'Bearer secret');
				const res = await replyDone(page, req);
				assert.equal(res.status(), 200);
				const want = (await chat(keyed, { ...req.postDataJSON(), stream: false, stream_options: undefined }, 'secret')).choices[0].message.content;
				assert.equal((await lastReply(page).textContent()).trim(), want.trim());
				assert.equal(await keyBox.isVisible(), false, 'asked again');
			},
			// the requests before the key answer 401, which chromium logs as a failed resource
			{ base: keyed.base, allow: [/Failed to load resource: the server responded with a status of 401/] },
		);
	} finally {
		await keyed.stop();
	}
});
