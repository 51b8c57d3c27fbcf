/*
 * models.js - the Models view: the model this node serves and the models in its cache
 * (GET /api/shoal/models), and a form that pulls a model (POST /api/pull, Ollama's NDJSON
 * progress). Progress is shown per file as a progress element labelled with bytes done of total,
 * rate and source; the pull's error, the server's message, as an alert. When a pull ends, however
 * it ends, the cache is listed again. A node without these endpoints shows them as unavailable.
 * Each cached model but the one served has "Serve", which hands it to the switch form (switch.js).
 */
import { useEffect, useState } from 'preact/hooks';
import { bytes, html, mb } from './ui.js';
import { getJSON, job } from './api.js';
import { SwitchForm } from './switch.js';

function useModels() {
	const [info, setInfo] = useState(null);
	const refresh = () => getJSON('/api/shoal/models').then(setInfo, e => setInfo({ error: e.message }));
	useEffect(() => {
		refresh();
	}, []);
	return [info, refresh];
}

function Served({ info }) {
	if (!info)
		return html`<p>Loading…</p>`;
	if (info.error)
		return html`<p class="muted" role="status">Unavailable: ${info.error}</p>`;
	const s = info.served || {};
	return html`<p><strong>${s.id}</strong> · ${s.n_ctx} tokens of context · ${s.n_layers} layers</p>`;
}

function CacheEntry({ m, served, onServe }) {
	const when = m.modified ? new Date(m.modified * 1000).toLocaleString() : '';
	const serving = served === m.reference;
	return html`<li class="model-entry" data-model-ref=${m.reference}>
		<div class="ref">${m.reference}${m.quant && html` <span class="badge">${m.quant}</span>`}
			${!m.complete && html` <span class="badge warn">incomplete</span>`}
			${serving ? html` <span class="badge">served</span>`
				: html` <button type="button" class="serve" onClick=${() => onServe(m.reference)}>Serve</button>`}</div>
		<div class="muted">${bytes(m.size)}${m.parts > 1 ? ` in ${m.parts} parts` : ''}
			${when && ` · ${when}`}${m.commit && ` · commit ${m.commit.slice(0, 12)}${m.main ? ' (main)' : ''}`}</div>
	</li>`;
}

function Cache({ info, onServe }) {
	if (!info || info.error)
		return null;
	const cache = info.cache || [];
	const served = info.served?.id;
	return cache.length
		? html`<ul class="cache">${cache.map(m => html`<${CacheEntry} key=${`${m.reference}@${m.commit}`} m=${m}
				served=${served} onServe=${onServe} />`)}</ul>`
		: html`<p class="muted">No models in the cache.</p>`;
}

const fileOf = line => line.file || line.status.replace(/^pulling /, '');

function FileProgress({ line, i }) {
	const rate = line.rate ? ` at ${mb(line.rate)} MB/s` : '';
	const source = line.source ? ` from ${line.source}` : '';
	const id = `pull-file-${i}`;
	return html`<div class="file">
		<label for=${id}>${fileOf(line)}: ${mb(line.completed)} / ${mb(line.total)} MB${rate}${source}</label>
		<progress id=${id} max=${line.total || 1} value=${line.completed || 0}></progress>
	</div>`;
}

function PullForm({ onEnd }) {
	const [ref, setRef] = useState('');
	const [state, setState] = useState({ busy: false, status: '', files: {}, error: '' });
	const onLine = line => setState(s => ({
		...s,
		status: line.status,
		files: line.total != null ? { ...s.files, [fileOf(line)]: line } : s.files,
	}));
	const submit = async e => {
		e.preventDefault();
		const model = ref.trim();
		setState({ busy: true, status: 'starting', files: {}, error: '' });
		try {
			await job('/api/pull', { model }, onLine);
			setState(s => ({ ...s, busy: false, status: `Pulled ${model}.` }));
		} catch (err) {
			setState(s => ({ ...s, busy: false, status: '', error: err.message }));
		}
		onEnd();
	};
	return html`<form class="pull" onSubmit=${submit}>
		<label>Model reference
			<input type="text" value=${ref} placeholder="ORG/REPO:QUANT" autocomplete="off" spellcheck="false" required
				onInput=${e => setRef(e.currentTarget.value)} />
		</label>
		<button type="submit" class="primary" disabled=${state.busy || !ref.trim()}>Pull</button>
		${state.status && html`<p class="muted" role="status">${state.status}</p>`}
		${Object.values(state.files).map((line, i) => html`<${FileProgress} key=${fileOf(line)} line=${line} i=${i} />`)}
		${state.error && html`<p class="error" role="alert">${state.error}</p>`}
	</form>`;
}

export function Models() {
	const [info, refresh] = useModels();
	const [ask, setAsk] = useState(null); /* {model, n}: a Serve button asks the switch form */
	const onServe = model => setAsk(a => ({ model, n: (a?.n || 0) + 1 }));
	return html`<section class="view models">
		<h2>Served</h2>
		<${Served} info=${info} />
		<${SwitchForm} ask=${ask} onEnd=${refresh} />
		<h2>Cache</h2>
		<${Cache} info=${info} onServe=${onServe} />
		<h2>Pull a model</h2>
		<${PullForm} onEnd=${refresh} />
	</section>`;
}
