/*
 * completion.js - one streamed chat completion (POST /v1/chat/completions, stream: true with
 * usage). The reply object is filled in as chunks come, so a caller that catches an error (HTTP,
 * an {"error"} chunk the server sends when e.g. a node dies, a dropped connection, Stop's abort)
 * still has the partial text. A stream must end with [DONE]; one that just stops is an error.
 *
 * Stats, kept with the message: ttft_ms from the request to the first text, tokens per second as
 * usage.completion_tokens over the time from the first to the last text, and the nodes that
 * computed the reply (the final chunk's shoal.nodes).
 */
import { ApiError, errorOf, postJSON, sse } from './api.js';

export function newReply() {
	return { content: '', t0: performance.now(), tFirst: 0, tLast: 0, usage: null, nodes: null };
}

export async function streamReply(body, reply, signal, onText) {
	const res = await postJSON('/v1/chat/completions', { ...body, stream: true, stream_options: { include_usage: true } }, signal);
	if (!res.ok)
		throw await errorOf(res);
	for await (const data of sse(res)) {
		if (data === '[DONE]')
			return;
		take(reply, JSON.parse(data), onText);
	}
	throw new ApiError('the reply was cut off: the connection closed before it was complete');
}

function take(reply, chunk, onText) {
	if (chunk.error)
		throw new ApiError(chunk.error.message || String(chunk.error));
	const text = chunk.choices?.[0]?.delta?.content;
	if (text) {
		const now = performance.now();
		reply.tFirst ||= now;
		reply.tLast = now;
		reply.content += text;
		onText();
	}
	if (chunk.usage)
		reply.usage = chunk.usage;
	if (chunk.shoal?.nodes)
		reply.nodes = chunk.shoal.nodes;
}

export function statsOf(reply) {
	if (!reply.tFirst)
		return null;
	const tokens = reply.usage?.completion_tokens;
	const span = (reply.tLast - reply.tFirst) / 1000;
	const stats = { ttft_ms: Math.round(reply.tFirst - reply.t0) };
	if (tokens) {
		stats.tokens = tokens;
		/* tokens after the first over the time they took; when they came in one read (a fast
		 * model), over the time from the request instead */
		if (tokens > 1 && span >= 0.05)
			stats.tps = (tokens - 1) / span;
		else if (reply.tLast > reply.t0)
			stats.tps = tokens / ((reply.tLast - reply.t0) / 1000);
	}
	if (reply.nodes)
		stats.nodes = reply.nodes.map(({ id, host, layers }) => ({ id, host, layers }));
	return stats;
}
