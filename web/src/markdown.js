/*
 * markdown.js - a reply's markdown into an element: marked renders it, DOMPurify sanitizes the
 * HTML before it is inserted (model text never reaches innerHTML unsanitized), then each code block
 * is highlighted (highlight.js core with a few common languages, to keep the bundle small) and gets
 * a "Copy code" button. Paragraphs keep the whitespace around them, so for plain prose the
 * element's textContent is exactly the model's text. Tags a reply has no business adding (images
 * would be fetched, forms and buttons would pose as the page's own) are dropped.
 */
import { Marked } from 'marked';
import DOMPurify from 'dompurify';
import hljs from 'highlight.js/lib/core';
import bash from 'highlight.js/lib/languages/bash';
import c from 'highlight.js/lib/languages/c';
import cpp from 'highlight.js/lib/languages/cpp';
import css from 'highlight.js/lib/languages/css';
import go from 'highlight.js/lib/languages/go';
import java from 'highlight.js/lib/languages/java';
import javascript from 'highlight.js/lib/languages/javascript';
import json from 'highlight.js/lib/languages/json';
import markdown from 'highlight.js/lib/languages/markdown';
import python from 'highlight.js/lib/languages/python';
import rust from 'highlight.js/lib/languages/rust';
import sql from 'highlight.js/lib/languages/sql';
import typescript from 'highlight.js/lib/languages/typescript';
import xml from 'highlight.js/lib/languages/xml';
import yaml from 'highlight.js/lib/languages/yaml';
import { copyText } from './copy.js';

const LANGUAGES = { bash, c, cpp, css, go, java, javascript, json, markdown, python, rust, sql, typescript, xml, yaml };
for (const [name, lang] of Object.entries(LANGUAGES))
	hljs.registerLanguage(name, lang);

const FORBID_TAGS = ['img', 'picture', 'video', 'audio', 'source', 'style', 'form', 'input', 'button', 'select', 'textarea'];

const marked = new Marked({
	gfm: true,
	renderer: {
		paragraph(token) {
			const trailing = token.raw.endsWith(token.text) ? '' : token.raw.match(/\s*$/)[0];
			return `<p>${this.parser.parseInline(token.tokens)}</p>${trailing}`;
		},
		space(token) {
			return token.raw;
		},
	},
});

export function renderMarkdown(el, text) {
	el.innerHTML = DOMPurify.sanitize(marked.parse(text), { FORBID_TAGS });
	for (const pre of el.querySelectorAll('pre'))
		decorate(pre);
}

function decorate(pre) {
	const code = pre.querySelector('code');
	if (!code)
		return;
	const lang = /\blanguage-(\S+)/.exec(code.className)?.[1];
	if (!lang || hljs.getLanguage(lang))
		hljs.highlightElement(code);
	const button = document.createElement('button');
	button.type = 'button';
	button.className = 'copy-code';
	button.setAttribute('aria-label', 'Copy code');
	button.title = 'Copy code';
	button.addEventListener('click', () => copyText(code.textContent, button));
	pre.prepend(button);
}
