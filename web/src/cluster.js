/*
 * cluster.js - the Cluster view: GET /v1/topology every 500 ms (the next poll is scheduled when
 * one ends, so a slow node is never asked twice at once). Each node is a card with data-node-id and
 * data-state; a node without a cluster has no memory figures, and whatever a node does not report
 * is an en dash. Labels and values end in a space, so a card's text reads as words ("Layers 0–3
 * CPU ..."), not as one run. When a poll fails (the node this page talks to went down) the last
 * topology stays, marked by a status line, and polling goes on.
 */
import { useEffect, useState } from 'preact/hooks';
import { bytes, DASH, html, layers, mb, num } from './ui.js';
import { getJSON } from './api.js';

const POLL_MS = 500;

function useTopology() {
	const [state, setState] = useState({ topo: null, error: '' });
	useEffect(() => {
		let timer = 0;
		let stopped = false;
		const poll = async () => {
			try {
				const topo = await getJSON('/v1/topology', { background: true });
				setState({ topo, error: '' });
			} catch (e) {
				const error = e.status ? `The node answered ${e.status}: ${e.message}` : `Cannot reach this node: ${e.message}`;
				setState(s => ({ ...s, error }));
			}
			if (!stopped)
				timer = setTimeout(poll, POLL_MS);
		};
		poll();
		return () => {
			stopped = true;
			clearTimeout(timer);
		};
	}, []);
	return state;
}

const pct = (part, whole) => `${Math.min(100, Math.max(0, (100 * part) / whole || 0))}%`;

function MemoryBar({ memory }) {
	if (!memory?.total)
		return html`<p class="muted">Memory ${DASH}</p>`;
	const { total, usable, planned } = memory;
	const label = `${bytes(planned)} planned / ${bytes(usable)} usable / ${bytes(total)} total`;
	return html`<div class="memory">
		<div class="bar" role="img" aria-label=${`Memory: ${label}`}>
			<span class="usable" style=${{ width: pct(usable, total) }}></span>
			<span class="planned" style=${{ width: pct(planned, total) }}></span>
		</div>
		<div class="muted">${label}${memory.available != null ? ` · ${bytes(memory.available)} available` : ''}</div>
	</div>`;
}

function ModelFile({ f }) {
	const verified = f.share ? `${mb(f.share_verified)} / ${mb(f.share)} MB of its share verified` : `${mb(f.verified)} / ${mb(f.size)} MB verified`;
	const label = `Model file: ${verified} · ${mb(f.from_hub)} MB from the hub, ${mb(f.from_peers)} MB from peers`
		+ (f.rate_bytes_per_s ? ` at ${mb(f.rate_bytes_per_s)} MB/s` : '') + (f.full_copy || f.whole ? ' · whole file' : '');
	return html`<label class="model-file">${label}
		<progress max=${(f.share || f.size) || 1} value=${(f.share ? f.share_verified : f.verified) || 0}></progress>
	</label>`;
}

function Node({ n }) {
	const rows = [
		['Layers', layers(n.layers)],
		['CPU', n.cpu || DASH],
		['Cores', n.cores ?? DASH],
		['Kernels', n.simd || DASH],
		['Memory bandwidth', n.mem_bandwidth_gbs != null ? `${num(n.mem_bandwidth_gbs, 1)} GB/s` : DASH],
		['Tokens/s', n.tokens_per_s != null ? num(n.tokens_per_s, 1) : DASH],
	];
	return html`<article class="node" data-node-id=${n.id} data-state=${n.state}>
		<header>
			<h3>${n.host || n.id} </h3>
			<span class=${`state ${n.state}`}>${n.state}</span>
		</header>
		<p class="muted">${n.address || DASH}${n.api ? ` · API ${n.api}` : ''}${n.os ? ` · ${n.os}` : ''}</p>
		<${MemoryBar} memory=${n.memory} />
		<dl>${rows.map(([k, v]) => html`<div key=${k}><dt>${k} </dt><dd>${v} </dd></div>`)}</dl>
		${n.model_file && html`<${ModelFile} f=${n.model_file} />`}
	</article>`;
}

/* what a link calls a node: its host, with its address when another node has the same host */
function nameOf(id, nodes) {
	const n = nodes.find(m => m.id === id);
	const host = n?.host || id;
	return n?.address && nodes.some(m => m !== n && m.host === n.host) ? `${host} (${n.address})` : host;
}

function Links({ links, nodes }) {
	if (!links?.length)
		return html`<p class="muted">No links: a single node.</p>`;
	const host = id => nameOf(id, nodes);
	return html`<table class="links">
		<thead><tr><th scope="col">From</th><th scope="col">To</th><th scope="col">State</th><th scope="col">RTT</th>
			<th scope="col">Bandwidth</th></tr></thead>
		<tbody>${links.map(l => html`<tr key=${`${l.from}>${l.to}`}>
			<td>${host(l.from)}</td><td>${host(l.to)}</td><td class=${`state ${l.state}`}>${l.state}</td>
			<td>${l.rtt_ms != null ? `${num(l.rtt_ms, 2)} ms` : DASH}</td>
			<td>${l.bandwidth_mbps != null ? `${num(l.bandwidth_mbps)} Mbit/s` : DASH}</td>
		</tr>`)}</tbody>
	</table>`;
}

function Plan({ plan }) {
	if (!plan)
		return null;
	return html`<p>Plan epoch ${plan.epoch} · ${plan.n_layers} layers${plan.pending ? ' · replanning' : ''}</p>
		${plan.error && html`<p class="error" role="alert">${plan.error}</p>`}`;
}

export function Cluster() {
	const { topo, error } = useTopology();
	const nodes = topo?.nodes || [];
	return html`<section class="view cluster">
		<h2>${topo?.cluster ? `Cluster ${topo.cluster}` : 'Cluster'}${topo?.model ? ` · ${topo.model}` : ''}</h2>
		${error && html`<p class="warn" role="status">${error}. Still trying…</p>`}
		${topo ? html`<${Plan} plan=${topo.plan} />` : !error && html`<p>Loading…</p>`}
		<div class="nodes">${nodes.map(n => html`<${Node} key=${n.id} n=${n} />`)}</div>
		${topo && html`<h2>Links</h2><${Links} links=${topo.links} nodes=${nodes} />`}
	</section>`;
}
