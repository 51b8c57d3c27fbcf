/*
 * store.js - the page's state in localStorage: JSON values (conversations, settings) and plain
 * strings (the API key, the current conversation's id), so a reload restores them. Storage that is
 * unavailable or full leaves the page working, only forgetful.
 */
export function loadJSON(key, fallback) {
	try {
		const v = localStorage.getItem(key);
		return v == null ? fallback : JSON.parse(v);
	} catch {
		return fallback;
	}
}

export function saveJSON(key, value) {
	saveString(key, JSON.stringify(value));
}

export function loadString(key) {
	try {
		return localStorage.getItem(key) || '';
	} catch {
		return '';
	}
}

export function saveString(key, value) {
	try {
		if (value)
			localStorage.setItem(key, value);
		else
			localStorage.removeItem(key);
	} catch {
		/* private mode or quota: keep going without persistence */
	}
}
