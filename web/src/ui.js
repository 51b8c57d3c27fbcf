/*
 * ui.js - what every view shares: `html`, htm bound to preact's h (tagged templates instead of
 * JSX, so nothing but esbuild's bundling stands between src/ and the browser), and the formatting
 * of numbers the views show. A missing number is shown as an en dash.
 */
import { h } from 'preact';
import htm from 'htm';

export const html = htm.bind(h);

export const DASH = '–';

export function num(v, digits = 0) {
	return typeof v === 'number' && Number.isFinite(v) ? v.toFixed(digits) : DASH;
}

export function mb(bytes) {
	return num(bytes / 1e6, 1);
}

export function bytes(n) {
	if (typeof n !== 'number')
		return DASH;
	const units = ['B', 'KB', 'MB', 'GB', 'TB'];
	let i = 0;
	while (n >= 1000 && i < units.length - 1) {
		n /= 1000;
		i++;
	}
	return `${n.toFixed(i && n < 100 ? 1 : 0)} ${units[i]}`;
}

export function layers(range) {
	return Array.isArray(range) ? `${range[0]}–${range[1]}` : 'none';
}
