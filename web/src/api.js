/*
 * api.js - every request the page makes goes through apiFetch: it sends the stored API key
 * (`Authorization: Bearer KEY`) and, when the node answers 401, asks for a key (the prompt main.js
 * registers) and tries again. A prompt the user dismissed is not raised again by background
 * requests (the cluster poll), only by what the user does. Errors become ApiError with the
 * server's message: OpenAI's {"error": {"message"}} or Ollama's {"error": "..."}. Streams are
 * read with fetch (EventSource cannot send the key): sse() yields each event's data, ndjson()
 * each line's object.
 */
import { loadString, saveString } from './store.js';

const KEY = 'shoal.api_key';
let askKey = null;

export class ApiError extends Error {
	constructor(message, status = 0) {
		super(message);
		this.name = 'ApiError';
		this.status = status;
	}
}

export function setKeyPrompt(fn) {
	askKey = fn;
}

export const apiKey = () => loadString(KEY);
export const saveApiKey = key => saveString(KEY, key);

function withKey(init) {
	const headers = new Headers(init.headers);
	const key = apiKey();
	if (key)
		headers.set('Authorization', `Bearer ${key}`);
	return { ...init, headers };
}

/* timeout (ms) bounds each attempt, not the time the user takes to give a key */
export async function apiFetch(path, init = {}, { background = false, timeout = 0 } = {}) {
	for (;;) {
		const signal = timeout ? AbortSignal.timeout(timeout) : init.signal;
		const res = await fetch(path, withKey({ ...init, signal }));
		if (res.status !== 401 || !askKey || !(await askKey(background)))
			return res;
	}
}

export async function errorOf(res) {
	const text = await res.text().catch(() => '');
	let message = '';
	try {
		const e = JSON.parse(text).error;
		message = typeof e === 'string' ? e : e?.message || '';
	} catch {
		message = text.trim().slice(0, 300);
	}
	return new ApiError(message || `${res.status} ${res.statusText}`.trim(), res.status);
}

export async function getJSON(path, { background = false } = {}) {
	const res = await apiFetch(path, {}, { background, timeout: 5000 });
	if (!res.ok)
		throw await errorOf(res);
	return res.json();
}

export function postJSON(path, body, signal) {
	return apiFetch(path, { method: 'POST', headers: { 'Content-Type': 'application/json' }, body: JSON.stringify(body), signal });
}

async function* lines(res) {
	const reader = res.body.getReader();
	const decoder = new TextDecoder();
	let rest = '';
	for (;;) {
		const { done, value } = await reader.read();
		rest += decoder.decode(value, { stream: !done });
		const parts = rest.split('\n');
		rest = done ? '' : parts.pop();
		for (const line of parts)
			yield line.endsWith('\r') ? line.slice(0, -1) : line;
		if (done)
			return;
	}
}

/* Server-sent events: the data of each event (its data: lines joined), comments and other fields skipped */
export async function* sse(res) {
	let data = [];
	for await (const line of lines(res)) {
		if (line === '' && data.length) {
			yield data.join('\n');
			data = [];
		} else if (line.startsWith('data:')) {
			data.push(line.slice(line.startsWith('data: ') ? 6 : 5));
		}
	}
	if (data.length)
		yield data.join('\n');
}

export async function* ndjson(res) {
	for await (const line of lines(res))
		if (line.trim())
			yield JSON.parse(line);
}

/* A background job of the node (a pull, a model switch): POST body to path and read its NDJSON
 * lines, each given to onLine; resolves with the line {"status": "success"}, throws the server's
 * error (a status other than 200, or an {"error"} line) */
export async function job(path, body, onLine) {
	const res = await postJSON(path, { ...body, stream: true });
	if (!res.ok)
		throw await errorOf(res);
	for await (const line of ndjson(res)) {
		if (line.error)
			throw new ApiError(line.error);
		onLine(line);
		if (line.status === 'success')
			return line;
	}
	throw new ApiError('the progress stream ended before the job did');
}
