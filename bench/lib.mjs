// lib.mjs - helpers shared by the HTTP benchmarks (api_bench.mjs, cluster_bench.mjs).
export const now = () => performance.now() / 1000;
export const median = (v) => {
	const s = [...v].sort((a, b) => a - b);
	return s.length % 2 ? s[(s.length - 1) / 2] : (s[s.length / 2 - 1] + s[s.length / 2]) / 2;
};

// one streamed greedy completion (ignore_eos): {t0, tFirst and tLast (s after sending), nGen,
// nPrompt, tEnd, rate: generation tok/s between the first and the last token}; an error event throws
export async function stream(base, p, maxTokens) {
	const t0 = now();
	const res = await fetch(`${base}/v1/completions`, {
		method: 'POST',
		headers: { 'content-type': 'application/json' },
		body: JSON.stringify({ prompt: p, max_tokens: maxTokens, temperature: 0, ignore_eos: true, stream: true, stream_options: { include_usage: true } }),
	});
	if (res.status !== 200) throw new Error(`status ${res.status}: ${await res.text()}`);
	const dec = new TextDecoder();
	let buf = '', tFirst = 0, tLast = 0, n = 0, nPrompt = 0;
	for await (const chunk of res.body) {
		buf += dec.decode(chunk, { stream: true });
		let i;
		while ((i = buf.indexOf('\n\n')) >= 0) {
			const ev = buf.slice(0, i);
			buf = buf.slice(i + 2);
			if (!ev.startsWith('data: ') || ev === 'data: [DONE]') continue;
			const j = JSON.parse(ev.slice(6));
			if (j.error) throw new Error(JSON.stringify(j.error));
			if (j.usage) (n = j.usage.completion_tokens), (nPrompt = j.usage.prompt_tokens);
			if (j.choices?.[0]?.text) {
				if (!tFirst) tFirst = now();
				tLast = now();
			}
		}
	}
	return { t0, tFirst: tFirst - t0, tLast: tLast - t0, nGen: n, nPrompt, tEnd: now(), rate: (n - 1) / (tLast - tFirst) };
}
