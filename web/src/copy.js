/*
 * copy.js - copies text to the clipboard and marks the button that asked (data-copied, which the
 * stylesheet shows as a check mark for a moment). The Clipboard API needs a secure context; a node
 * reached over plain http on the LAN falls back to a selected textarea and execCommand.
 */
const SHOWN_MS = 1500;

export async function copyText(text, button) {
	try {
		if (navigator.clipboard && window.isSecureContext)
			await navigator.clipboard.writeText(text);
		else
			copyBySelection(text);
		button.dataset.copied = 'yes';
	} catch {
		button.dataset.copied = 'no';
	}
	setTimeout(() => delete button.dataset.copied, SHOWN_MS);
}

function copyBySelection(text) {
	const ta = document.createElement('textarea');
	ta.value = text;
	ta.setAttribute('readonly', '');
	ta.style.position = 'fixed';
	ta.style.opacity = '0';
	document.body.append(ta);
	ta.select();
	const ok = document.execCommand('copy');
	ta.remove();
	if (!ok)
		throw new Error('copy refused');
}
