/*
 * switch.js - the form that switches the node, and with it the cluster, to another model (POST
 * /api/shoal/switch, NDJSON): input "Model to serve" (a reference or a file of the node) and the
 * button "Switch"; a cached model's "Serve" fills it in and submits. While the switch runs its
 * status line says what it waits for, and each node of the new model is a row with its layers and,
 * for a model shared from the hub, a progress element of its share (bytes verified, and how many
 * came from the hub and from peers). An error (no such model, a model too big for the cluster:
 * needed against available) is an alert; the old model serves on. When the switch ends, however
 * it ends, onEnd lets the view fetch what is served again; a switch that succeeded is also told to
 * the window (MODEL_SWITCHED), for the chat's model name.
 */
import { useEffect, useState } from 'preact/hooks';
import { bytes, html, layers } from './ui.js';
import { job } from './api.js';

/* the window event after a switch: views that show the model served ask for it again */
export const MODEL_SWITCHED = 'shoal:model-switched';

function NodeRow({ n, i }) {
	const id = `switch-node-${i}`;
	const shared = typeof n.share === 'number';
	const from = shared ? ` · from the hub ${bytes(n.from_hub)}, from peers ${bytes(n.from_peers)}` : '';
	return html`<li class="switch-node" data-switch-node=${n.id} data-state=${n.state}>
		<label for=${id}>${n.host || n.id.slice(0, 8)} · layers ${layers(n.layers)}${shared
			? ` · ${bytes(n.verified)} of ${bytes(n.share)}` : ''}${from}</label>
		${shared && html`<progress id=${id} max=${n.share || 1} value=${n.verified || 0}></progress>`}
	</li>`;
}

export function SwitchForm({ ask, onEnd }) {
	const [model, setModel] = useState('');
	const [state, setState] = useState({ busy: false, status: '', nodes: [], error: '' });
	const run = async target => {
		setState({ busy: true, status: `Switching to ${target}…`, nodes: [], error: '' });
		try {
			const end = await job('/api/shoal/switch', { model: target }, line => setState(s => ({
				...s,
				status: line.message ? `Switching to ${target}: ${line.message}` : s.status,
				nodes: line.nodes || s.nodes,
			})));
			setState({ busy: false, status: `Now serving ${end.model}.`, nodes: [], error: '' });
			window.dispatchEvent(new Event(MODEL_SWITCHED));
		} catch (err) {
			setState({ busy: false, status: '', nodes: [], error: err.message });
		}
		onEnd();
	};
	useEffect(() => {
		if (ask && !state.busy) {
			setModel(ask.model);
			run(ask.model);
		}
	}, [ask]);
	const submit = e => {
		e.preventDefault();
		run(model.trim());
	};
	return html`<form class="pull switch" onSubmit=${submit}>
		<label>Model to serve
			<input type="text" value=${model} placeholder="ORG/REPO:QUANT or a file of this node" autocomplete="off"
				spellcheck="false" required onInput=${e => setModel(e.currentTarget.value)} />
		</label>
		<button type="submit" class="primary" disabled=${state.busy || !model.trim()}>Switch</button>
		${state.status && html`<p class="muted" role="status">${state.status}</p>`}
		${state.nodes.length > 0 && html`<ul class="switch-nodes">
			${state.nodes.map((n, i) => html`<${NodeRow} key=${n.id} n=${n} i=${i} />`)}</ul>`}
		${state.error && html`<p class="error" role="alert">${state.error}</p>`}
	</form>`;
}
