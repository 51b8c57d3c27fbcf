/*
 * main.js - the page: the tabs "Chat", "Models", "Cluster" (buttons in a nav; the view's name is
 * the URL hash) and the API key dialog. Chat stays mounted while hidden, so a reply keeps streaming
 * in another tab; Models and Cluster mount when shown (Cluster polls only while it is). The dialog
 * is the prompt api.js raises on a 401: Save stores the key and the waiting requests retry; closing
 * it lets them fail with the server's message.
 */
import { render } from 'preact';
import { useEffect, useRef, useState } from 'preact/hooks';
import { html } from './ui.js';
import { apiKey, saveApiKey, setKeyPrompt } from './api.js';
import { Chat } from './chat.js';
import { Models } from './models.js';
import { Cluster } from './cluster.js';

const VIEWS = { chat: 'Chat', models: 'Models', cluster: 'Cluster' };

const viewOf = hash => (hash.slice(1) in VIEWS ? hash.slice(1) : 'chat');

/* the view the hash names; a hash that names none is replaced by #chat */
function useView() {
	const [view, setView] = useState(() => viewOf(location.hash));
	useEffect(() => {
		const onHash = () => {
			const v = viewOf(location.hash);
			if (location.hash !== `#${v}`)
				history.replaceState(null, '', `#${v}`);
			setView(v);
		};
		onHash();
		addEventListener('hashchange', onHash);
		return () => removeEventListener('hashchange', onHash);
	}, []);
	return view;
}

/* the 401 prompt: one dialog for every request waiting on it; resolves true when a key was saved */
function KeyDialog() {
	const dialog = useRef(null);
	const input = useRef(null);
	const waiting = useRef(null);
	const resolve = useRef(null);
	const declined = useRef(false);
	const [refused, setRefused] = useState(false);
	useEffect(() => setKeyPrompt(background => {
		if (!waiting.current) {
			if (background && declined.current)
				return Promise.resolve(false);
			waiting.current = new Promise(r => (resolve.current = r));
			setRefused(!!apiKey());
			input.current.value = apiKey();
			dialog.current.returnValue = '';
			dialog.current.showModal();
		}
		return waiting.current;
	}), []);
	const onClose = () => {
		const saved = dialog.current.returnValue === 'saved';
		declined.current = !saved;
		resolve.current?.(saved);
		waiting.current = resolve.current = null;
	};
	const onSubmit = e => {
		e.preventDefault();
		saveApiKey(input.current.value.trim());
		dialog.current.close('saved');
	};
	return html`<dialog ref=${dialog} aria-labelledby="key-title" onClose=${onClose}>
		<form onSubmit=${onSubmit}>
			<h2 id="key-title">Authentication</h2>
			<p>${refused ? 'The node refused the saved key.' : 'This node asks for a key.'} It is kept in this browser.</p>
			<label>API key <input ref=${input} type="password" autocomplete="off" required /></label>
			<div class="actions"><button type="submit" class="primary">Save</button></div>
		</form>
	</dialog>`;
}

function App() {
	const view = useView();
	return html`<header class="top">
			<span class="brand">shoal</span>
			<nav aria-label="Views">
				${Object.entries(VIEWS).map(([v, name]) => html`<button type="button" key=${v} aria-current=${view === v ? 'page' : null}
					onClick=${() => (location.hash = v)}>${name}</button>`)}
			</nav>
		</header>
		<main>
			<${Chat} hidden=${view !== 'chat'} />
			${view === 'models' && html`<${Models} />`}
			${view === 'cluster' && html`<${Cluster} />`}
		</main>
		<${KeyDialog} />`;
}

render(html`<${App} />`, document.getElementById('app'));
