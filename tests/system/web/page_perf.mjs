// page_perf.mjs - what the web UI costs a browser on its first load (run by hand, not a test):
//   node tests/system/web/page_perf.mjs [RUNS]      (SHOAL=path/to/shoal; default 5 runs)
// Starts one `shoal run` on stories260K and loads its page RUNS times in headless chromium, each
// time in a fresh context (an empty cache: a cold load, as a first visit). Per load: the bytes
// transferred (CDP Network.loadingFinished encodedDataLength: what crossed the wire, headers and
// gzipped bodies, for every response until 1 s after the load event, so the page's first API calls
// count too), split into the page and its assets (/, /ui/*) and the rest; and first paint and first
// contentful paint (performance.getEntriesByType('paint'), ms from navigation start); resource
// timing's transferSize and decodedBodySize (the bodies unzipped) as a cross-check. Prints each
// run, then the medians, then one JSON line of the medians.
import { launchBrowser, openPage, startNode, sleep, median } from './lib.mjs';

const runs = Number(process.argv[2] || 5);
const node = await startNode();
const browser = await launchBrowser();
const results = [];
try {
	for (let i = 0; i < runs; i++) {
		const p = await openPage(browser);
		const cdp = await p.context.newCDPSession(p.page);
		await cdp.send('Network.enable');
		await cdp.send('Network.setCacheDisabled', { cacheDisabled: true });
		const urls = new Map(), bytes = new Map();
		cdp.on('Network.requestWillBeSent', (e) => urls.set(e.requestId, e.request.url));
		cdp.on('Network.loadingFinished', (e) => bytes.set(e.requestId, e.encodedDataLength));
		await p.page.goto(`${node.base}/`, { waitUntil: 'load' });
		await sleep(1000);
		const paint = await p.page.evaluate(() => Object.fromEntries(performance.getEntriesByType('paint').map((e) => [e.name, e.startTime])));
		const timing = await p.page.evaluate(() => {
			const nav = performance.getEntriesByType('navigation')[0];
			const res = performance.getEntriesByType('resource');
			return {
				transfer: nav.transferSize + res.reduce((s, r) => s + r.transferSize, 0),
				decoded: nav.decodedBodySize + res.reduce((s, r) => s + r.decodedBodySize, 0),
				dcl: nav.domContentLoadedEventEnd,
				load: nav.loadEventEnd,
			};
		});
		let page = 0, other = 0;
		const files = [];
		for (const [id, n] of bytes) {
			const u = new URL(urls.get(id));
			if (u.pathname === '/' || u.pathname.startsWith('/ui/')) page += n;
			else other += n;
			files.push(`${u.pathname} ${n}`);
		}
		const r = { bytes: page + other, page_bytes: page, api_bytes: other, resource_timing_bytes: timing.transfer, decoded_bytes: timing.decoded, first_paint_ms: paint['first-paint'], first_contentful_paint_ms: paint['first-contentful-paint'], dom_content_loaded_ms: timing.dcl, load_ms: timing.load };
		results.push(r);
		console.log(`run ${i + 1}: ${r.bytes} B (page and assets ${page} B, API ${other} B; resource timing ${timing.transfer} B, ${timing.decoded} B unzipped), ` +
			`FP ${r.first_paint_ms?.toFixed(1)} ms, FCP ${r.first_contentful_paint_ms?.toFixed(1)} ms, DCL ${timing.dcl.toFixed(1)} ms, load ${timing.load.toFixed(1)} ms`);
		if (i === 0) console.log(`  ${files.join('\n  ')}`);
		p.assertNoErrors();
		await p.close();
	}
	const med = Object.fromEntries(Object.keys(results[0]).map((k) => [k, median(results.map((r) => r[k] ?? NaN))]));
	console.log(`median of ${runs}: ${med.bytes} B transferred (page and assets ${med.page_bytes} B), first paint ${med.first_paint_ms.toFixed(1)} ms, first contentful paint ${med.first_contentful_paint_ms.toFixed(1)} ms`);
	console.log(JSON.stringify(med));
} finally {
	await browser.close();
	await node.stop();
}
