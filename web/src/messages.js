/*
 * messages.js - the messages of a conversation. Each is an element with data-role (user,
 * assistant, error) holding its text in [data-content]; an assistant's stats (first token,
 * tokens per second, nodes) are a separate [data-stats] element, so the text can be compared with
 * what the API returns. A user message can be edited ("Save & submit" cuts the conversation after
 * it and asks again); the last reply can be regenerated; a reply that failed keeps its partial
 * text and is followed by an error element with the server's message.
 */
import { useLayoutEffect, useRef, useState } from 'preact/hooks';
import { html, layers, num } from './ui.js';
import { renderMarkdown } from './markdown.js';
import { copyText } from './copy.js';

function Markdown({ text }) {
	const ref = useRef(null);
	useLayoutEffect(() => renderMarkdown(ref.current, text), [text]);
	return html`<div class="md" data-content ref=${ref}></div>`;
}

function Stats({ stats, stopped }) {
	const parts = [];
	if (stopped)
		parts.push('stopped');
	if (stats) {
		parts.push(`first token ${num(stats.ttft_ms)} ms`);
		if (stats.tps)
			parts.push(`${num(stats.tps, 1)} tok/s`);
		if (stats.tokens)
			parts.push(`${stats.tokens} tokens`);
		if (stats.nodes?.length)
			parts.push(`on ${stats.nodes.map(n => `${n.host || n.id} (layers ${layers(n.layers)})`).join(', ')}`);
	}
	return parts.length ? html`<div class="stats" data-stats>${parts.join(' · ')}</div>` : null;
}

function UserMessage({ msg, busy, onEdit }) {
	const [draft, setDraft] = useState(null);
	if (draft === null)
		return html`<div class="msg user" data-role="user">
			<div class="text" data-content>${msg.content}</div>
			<div class="actions"><button type="button" disabled=${busy} onClick=${() => setDraft(msg.content)}>Edit</button></div>
		</div>`;
	const submit = () => {
		setDraft(null);
		onEdit(draft);
	};
	return html`<div class="msg user" data-role="user">
		<textarea aria-label="Edited text" rows="3" value=${draft} onInput=${e => setDraft(e.currentTarget.value)}></textarea>
		<div class="actions">
			<button type="button" class="primary" disabled=${busy || !draft.trim()} onClick=${submit}>Save & submit</button>
			<button type="button" onClick=${() => setDraft(null)}>Cancel</button>
		</div>
	</div>`;
}

function Reply({ msg, live, last, busy, onRegenerate }) {
	const regenerate = last && !live && html`<button type="button" disabled=${busy} onClick=${onRegenerate}>Regenerate</button>`;
	const body = msg.content || !msg.error;
	return html`
		${body && html`<div class="msg assistant" data-role="assistant" aria-busy=${live ? 'true' : null}>
			<${Markdown} text=${msg.content} />
			${!live && html`<${Stats} stats=${msg.stats} stopped=${msg.stopped} />
			<div class="actions">
				${regenerate}
				<button type="button" onClick=${e => copyText(msg.content, e.currentTarget)}>Copy</button>
			</div>`}
		</div>`}
		${msg.error && html`<div class="msg error" data-role="error" role="alert">
			<p>${msg.error}</p>
			${!body && html`<div class="actions">${regenerate}</div>`}
		</div>`}`;
}

export function lastReplyIn(messages) {
	for (let i = messages.length - 1; i >= 0; i--)
		if (messages[i].role === 'assistant')
			return i;
	return -1;
}

/* keyed by conversation and position, so an edit in progress does not follow into another conversation */
export function Messages({ convId, messages, live, busy, onEdit, onRegenerate }) {
	const all = live ? [...messages, live] : messages;
	const lastReply = lastReplyIn(all);
	return all.map((msg, i) => msg.role === 'user'
		? html`<${UserMessage} key=${`${convId}:${i}`} msg=${msg} busy=${busy} onEdit=${text => onEdit(i, text)} />`
		: html`<${Reply} key=${`${convId}:${i}`} msg=${msg} live=${msg === live} last=${i === lastReply} busy=${busy}
			onRegenerate=${onRegenerate} />`);
}
