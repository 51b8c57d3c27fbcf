/*
 * chat.js - the Chat view: the conversations (localStorage shoal.conversations, the open one's id
 * in shoal.current), the open conversation's messages and the message box. One reply streams at
 * a time; it is drawn at most once per animation frame and stored with its stats when it ends,
 * however it ends: done, stopped (the partial text stays) or failed (the error is kept with it).
 * A conversation is created by its first message, titled by it. Below 720 px the list of
 * conversations folds behind the "Conversations" button.
 */
import { useEffect, useLayoutEffect, useRef, useState } from 'preact/hooks';
import { html } from './ui.js';
import { getJSON } from './api.js';
import { loadJSON, loadString, saveJSON, saveString } from './store.js';
import { newReply, statsOf, streamReply } from './completion.js';
import { requestOf, SettingsDialog, useSettings } from './settings.js';
import { lastReplyIn, Messages } from './messages.js';
import { MODEL_SWITCHED } from './switch.js';

const CONVERSATIONS = 'shoal.conversations';
const CURRENT = 'shoal.current';
const TITLE_MAX = 60;
const STICK_PX = 48;

const newId = () => Date.now().toString(36) + Math.random().toString(36).slice(2, 8);

function titleOf(messages) {
	const line = messages.find(m => m.role === 'user')?.content.trim().split('\n')[0] || 'New chat';
	return line.length > TITLE_MAX ? `${line.slice(0, TITLE_MAX - 1)}…` : line;
}

function loadConversations() {
	const convs = loadJSON(CONVERSATIONS, []);
	return Array.isArray(convs) ? convs.filter(c => c && typeof c.id === 'string' && Array.isArray(c.messages)) : [];
}

function useConversations() {
	const [convs, setConvs] = useState(loadConversations);
	const [currentId, select] = useState(() => loadString(CURRENT));
	useEffect(() => saveJSON(CONVERSATIONS, convs), [convs]);
	useEffect(() => saveString(CURRENT, currentId), [currentId]);
	const create = () => {
		const id = newId();
		setConvs(cs => [{ id, title: 'New chat', messages: [] }, ...cs]);
		select(id);
		return id;
	};
	const commit = (id, messages) => setConvs(cs => cs.map(c => (c.id === id ? { ...c, title: titleOf(messages), messages } : c)));
	const remove = id => {
		setConvs(cs => cs.filter(c => c.id !== id));
		select(cur => (cur === id ? '' : cur));
	};
	return { convs, current: convs.find(c => c.id === currentId) || null, select, create, commit, remove };
}

/* the model served: asked at start and again whenever the node switches models (switch.js) */
function useModel() {
	const [model, setModel] = useState({ id: '', error: '' });
	useEffect(() => {
		const ask = () => getJSON('/v1/models').then(r => setModel({ id: r.data?.[0]?.id || '', error: '' }),
			e => setModel({ id: '', error: e.message }));
		ask();
		window.addEventListener(MODEL_SWITCHED, ask);
		return () => window.removeEventListener(MODEL_SWITCHED, ask);
	}, []);
	return model;
}

/* the history as the API takes it: replies that failed before any text are left out */
const apiMessages = history => history.filter(m => m.content).map(({ role, content }) => ({ role, content }));

/* keeps the log scrolled to the bottom while the reader is there */
function useStickyScroll(deps) {
	const ref = useRef(null);
	const stick = useRef(true);
	const onScroll = () => {
		const el = ref.current;
		stick.current = el.scrollHeight - el.scrollTop - el.clientHeight < STICK_PX;
	};
	useLayoutEffect(() => {
		if (stick.current)
			ref.current.scrollTop = ref.current.scrollHeight;
	}, deps);
	return [ref, onScroll];
}

function ConversationList({ convs, current, open, onSelect, onNew, onDelete }) {
	return html`<aside id="conversations" class=${open ? 'convs open' : 'convs'} aria-label="Conversations">
		<button type="button" class="primary" onClick=${onNew}>New chat</button>
		<ul>
			${convs.map(c => html`<li key=${c.id} class=${c === current ? 'current' : null}>
				<a href="#chat" aria-current=${c === current ? 'true' : null} title=${c.title}
					onClick=${e => { e.preventDefault(); onSelect(c.id); }}>${c.title}</a>
				<button type="button" class="icon" aria-label="Delete conversation" title="Delete conversation"
					onClick=${() => onDelete(c.id)}>×</button>
			</li>`)}
		</ul>
	</aside>`;
}

function Composer({ streaming, onSend, onStop }) {
	const [draft, setDraft] = useState('');
	const box = useRef(null);
	const send = () => {
		if (draft.trim() && onSend(draft)) {
			setDraft('');
			box.current.focus();
		}
	};
	const onKeyDown = e => {
		if (e.key === 'Enter' && !e.shiftKey && !e.isComposing) {
			e.preventDefault();
			send();
		}
	};
	return html`<form class="composer" onSubmit=${e => { e.preventDefault(); send(); }}>
		<textarea ref=${box} aria-label="Message" rows="2" placeholder="Message shoal (Enter sends, Shift+Enter is a new line)"
			value=${draft} onInput=${e => setDraft(e.currentTarget.value)} onKeyDown=${onKeyDown}></textarea>
		${streaming
			? html`<button type="button" onClick=${onStop}>Stop</button>`
			: html`<button type="submit" class="primary" disabled=${!draft.trim()}>Send</button>`}
	</form>`;
}

export function Chat({ hidden }) {
	const { convs, current, select, create, commit, remove } = useConversations();
	const [settings, updateSettings] = useSettings();
	const model = useModel();
	const [live, setLive] = useState(null);
	const [showSettings, setShowSettings] = useState(false);
	const [showList, setShowList] = useState(false);
	const stream = useRef(null);
	const messages = current?.messages || [];
	const liveHere = live && live.convId === current?.id ? live.msg : null;
	const [logRef, onScroll] = useStickyScroll([current?.id, messages, liveHere]);

	async function ask(convId, history) {
		commit(convId, history);
		const reply = newReply();
		const ctl = new AbortController();
		stream.current = ctl;
		let frame = 0;
		const paint = () => {
			frame = 0;
			setLive({ convId, msg: { role: 'assistant', content: reply.content } });
		};
		paint();
		const msg = { role: 'assistant' };
		const body = { ...(model.id && { model: model.id }), ...requestOf(settings, apiMessages(history)) };
		try {
			await streamReply(body, reply, ctl.signal, () => { frame ||= requestAnimationFrame(paint); });
		} catch (e) {
			if (ctl.signal.aborted)
				msg.stopped = true;
			else
				msg.error = e.message || String(e);
		}
		cancelAnimationFrame(frame);
		msg.content = reply.content;
		const stats = statsOf(reply);
		if (stats)
			msg.stats = stats;
		commit(convId, [...history, msg]);
		stream.current = null;
		setLive(null);
	}

	const send = text => {
		if (stream.current)
			return false;
		ask(current?.id || create(), [...messages, { role: 'user', content: text }]);
		return true;
	};
	const regenerate = () => {
		const i = lastReplyIn(messages);
		if (!stream.current && i >= 0)
			ask(current.id, messages.slice(0, i));
	};
	const edit = (i, text) => {
		if (!stream.current)
			ask(current.id, [...messages.slice(0, i), { role: 'user', content: text }]);
	};
	const del = id => {
		if (live?.convId === id)
			stream.current.abort();
		remove(id);
	};
	const open = id => {
		select(id);
		setShowList(false);
	};

	return html`<section class="view chat" hidden=${hidden}>
		<${ConversationList} convs=${convs} current=${current} open=${showList} onSelect=${open}
			onNew=${() => open('')} onDelete=${del} />
		<div class="chat-main">
			<div class="toolbar">
				<button type="button" class="list-toggle" aria-expanded=${showList} aria-controls="conversations"
					onClick=${() => setShowList(!showList)}>Conversations</button>
				<span class="model" title="the model this node serves">${model.id || (model.error ? `model unavailable: ${model.error}` : '')}</span>
				<button type="button" aria-haspopup="dialog" onClick=${() => setShowSettings(true)}>Settings</button>
			</div>
			<${SettingsDialog} open=${showSettings} onClose=${() => setShowSettings(false)} settings=${settings} update=${updateSettings} />
			<div class="log" role="log" aria-label="Chat log" ref=${logRef} onScroll=${onScroll}>
				${messages.length || liveHere
					? html`<${Messages} convId=${current?.id} messages=${messages} live=${liveHere} busy=${!!live}
						onEdit=${edit} onRegenerate=${regenerate} />`
					: html`<p class="empty">Ask the model something.</p>`}
			</div>
			<${Composer} streaming=${!!live} onSend=${send} onStop=${() => stream.current?.abort()} />
		</div>
	</section>`;
}
