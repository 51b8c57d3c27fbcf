/*
 * settings.js - the chat's settings, kept in localStorage (shoal.settings) as they are typed, in
 * a modal dialog ("Settings", closed by "Done" or Escape): a system prompt (sent first when set)
 * and sampling. An empty sampling field is not sent, so the server's defaults apply; the
 * placeholders say what those are. Values out of range are the server's to refuse.
 */
import { useEffect, useRef, useState } from 'preact/hooks';
import { html } from './ui.js';
import { loadJSON, saveJSON } from './store.js';

const KEY = 'shoal.settings';
const FIELDS = [
	{ key: 'temperature', label: 'Temperature', min: 0, max: 2, step: 0.05, placeholder: 'server default' },
	{ key: 'top_p', label: 'Top p', min: 0, max: 1, step: 0.05, placeholder: 'server default' },
	{ key: 'max_tokens', label: 'Max tokens', min: 1, step: 1, placeholder: 'up to the context' },
];

export function useSettings() {
	const [settings, set] = useState(() => ({ system: '', temperature: null, top_p: null, max_tokens: null, ...loadJSON(KEY, {}) }));
	const update = patch => set(s => {
		const next = { ...s, ...patch };
		saveJSON(KEY, next);
		return next;
	});
	return [settings, update];
}

/* the request's fields for these settings: messages (after the system prompt) and sampling */
export function requestOf(settings, messages) {
	const body = { messages: settings.system.trim() ? [{ role: 'system', content: settings.system }, ...messages] : messages };
	for (const f of FIELDS)
		if (typeof settings[f.key] === 'number')
			body[f.key] = settings[f.key];
	return body;
}

function numberOf(input) {
	return Number.isFinite(input.valueAsNumber) ? input.valueAsNumber : null;
}

export function SettingsDialog({ open, onClose, settings, update }) {
	const dialog = useRef(null);
	useEffect(() => {
		if (open && !dialog.current.open)
			dialog.current.showModal();
	}, [open]);
	return html`<dialog class="settings" ref=${dialog} aria-labelledby="settings-title" onClose=${onClose}>
		<form method="dialog">
			<h2 id="settings-title">Settings</h2>
			<label class="wide">System prompt
				<textarea rows="4" value=${settings.system} onInput=${e => update({ system: e.currentTarget.value })}></textarea>
			</label>
			${FIELDS.map(f => html`<label key=${f.key}>${f.label}
				<input type="number" inputmode="decimal" min=${f.min} max=${f.max} step=${f.step} placeholder=${f.placeholder}
					value=${settings[f.key] ?? ''} onInput=${e => update({ [f.key]: numberOf(e.currentTarget) })} />
			</label>`)}
			<div class="actions wide"><button type="submit" class="primary">Done</button></div>
		</form>
	</dialog>`;
}
