#!/usr/bin/env bash
# `shoal status`: against a 2-node loopback cluster (stories260K, 5 layers) it names both nodes,
# shows their layer ranges (which cover the model) and the link between them, up; --json is the
# topology (the same node ids); --url works; --watch redraws until SIGINT and exits 0; colors only
# on a terminal and not with NO_COLOR. A closed port, a wrong or missing --api-key (401, with the
# API's message), an error status, bad JSON, a truncated or oversized answer each exit 1 with one
# line on stderr. A fake node (node's http module) checks a chunked answer and the fields
# /v1/topology may carry (cluster, model, host, cpu, cores, simd, os, speeds, link bandwidth).
set -euo pipefail
. "$(dirname "$0")/lib/cluster.sh"
M="$STORIES"
export XDG_STATE_HOME="$TMPD/state"
unset SHOAL_API_KEY NO_COLOR

# status ARGS...: runs `shoal status`, sets OUT, ERR and RC
status() {
	RC=0
	"$SHOAL" status "$@" >"$TMPD/out" 2>"$TMPD/err" || RC=$?
	OUT=$(cat "$TMPD/out") ERR=$(cat "$TMPD/err")
}
# fails_with MESSAGE_REGEX ARGS...: exit 1, nothing on stdout, one line on stderr matching
fails_with() {
	local re=$1; shift
	status "$@"
	[ "$RC" = 1 ] || fail "status $*: exit $RC (want 1); out: $OUT; err: $ERR"
	[ -z "$OUT" ] || fail "status $*: stdout on an error: $OUT"
	[ "$(wc -l <"$TMPD/err")" = 1 ] || fail "status $*: stderr is not one line: $ERR"
	grep -Eq "$re" <<<"$ERR" || fail "status $*: stderr '$ERR' does not match /$re/"
}

# ---------------------------------------------------------------- a real cluster
nodisc=""
if { "$SHOAL" run --help 2>&1; "$SHOAL" --help 2>&1; } | grep -q -- '--no-discovery'; then nodisc="--no-discovery"; fi
cluster_start 2 "-m $M $nodisc"
cluster_wait_plan 2
t=$(topology "${API_PORTS[0]}")
n_layers=$(jq .plan.n_layers <<<"$t")
status --port "${API_PORTS[0]}"
[ "$RC" = 0 ] || fail "status: exit $RC: $ERR"
! grep -q $'\033' <<<"$OUT" || fail "ANSI codes when stdout is not a terminal"
for id in $(jq -r '.nodes[].id' <<<"$t"); do
	grep -q "${id:0:8}" <<<"$OUT" || fail "node ${id:0:8} is not shown: $OUT"
done
# each node's range as the topology has it ([first, last)), and together all layers
for want in $(jq -r '.nodes[] | "layers_\(.layers[0])-\(.layers[1] - 1)_(\(.layers[1] - .layers[0]))"' <<<"$t"); do
	grep -qF "${want//_/ }" <<<"$OUT" || fail "'${want//_/ }' is not shown: $OUT"
done
sum=$(grep -Eo 'layers [0-9]+-[0-9]+ \([0-9]+\)' <<<"$OUT" | sed -E 's/.*\(([0-9]+)\)/\1/' | awk '{ s += $1 } END { print s }')
[ "$sum" = "$n_layers" ] || fail "the ranges shown add up to $sum layers, not $n_layers: $OUT"
grep -Eq "^ *[0-9a-f]{8} -> [0-9a-f]{8} +up +rtt [0-9.]+ ms" <<<"$OUT" || fail "no link up: $OUT"
grep -Eq "plan $(printf %08x "$(jq .plan.epoch <<<"$t")")" <<<"$OUT" || fail "no plan epoch: $OUT"
grep -Eq '\[[#.]{20}\] ' <<<"$OUT" || fail "no memory bar: $OUT"
echo "status:"
sed 's/^/    /' <<<"$OUT"

status --port "${API_PORTS[1]}" --json
[ "$RC" = 0 ] || fail "--json: exit $RC: $ERR"
ids=$(node -e 'const t = JSON.parse(require("fs").readFileSync(0, "utf8"));
	console.log(t.nodes.map(n => n.id).sort().join(","))' <<<"$OUT") || fail "--json does not parse: $OUT"
[ "$ids" = "$(jq -r '[.nodes[].id] | sort | join(",")' <<<"$t")" ] || fail "--json ids $ids, topology $(jq -c '[.nodes[].id]' <<<"$t")"

status --url "http://127.0.0.1:${API_PORTS[1]}/v1"
[ "$RC" = 0 ] && grep -q "layers" <<<"$OUT" || fail "--url: exit $RC: $ERR"

# --watch: frames until SIGINT, then exit 0
RC=0
timeout --preserve-status -s INT 2 "$SHOAL" status --port "${API_PORTS[0]}" --watch 0.3 >"$TMPD/watch" 2>&1 || RC=$?
[ "$RC" = 0 ] || fail "--watch ended with $RC: $(cat "$TMPD/watch")"
frames=$(grep -c '^--- ' "$TMPD/watch" || true)
[ "$frames" -ge 3 ] || fail "--watch drew $frames frames in 2 s: $(cat "$TMPD/watch")"

# on a terminal: colors, unless NO_COLOR
if command -v script >/dev/null; then
	script -qec "$SHOAL status --port ${API_PORTS[0]}" /dev/null >"$TMPD/tty" 2>&1 </dev/null || true
	grep -q $'\033\\[' "$TMPD/tty" || fail "no colors on a terminal: $(cat -v "$TMPD/tty")"
	NO_COLOR=1 script -qec "$SHOAL status --port ${API_PORTS[0]}" /dev/null >"$TMPD/tty" 2>&1 </dev/null || true
	grep -q "layers" "$TMPD/tty" && ! grep -q $'\033' "$TMPD/tty" || fail "NO_COLOR: $(cat -v "$TMPD/tty")"
fi

# a closed port
closed=$(random_port)
fails_with "cannot connect to 127\.0\.0\.1 port $closed: Connection refused" --port "$closed"
fails_with "cannot resolve" --host no-such-host.invalid
fails_with "is not http://" --url "http://127.0.0.1:99999"
cluster_stop

# ---------------------------------------------------------------- --api-key
"$SHOAL" run -m "$M" --port 0 -t 1 --api-key right-key-1234 >"$TMPD/single.log" 2>&1 &
PIDS+=($!)
P1=""
for _ in $(seq 1 200); do
	P1=$(grep -so 'http://[^ ]*:[0-9]*/v1' "$TMPD/single.log" | head -1 | sed -E 's/.*:([0-9]+)\/v1/\1/') && [ -n "$P1" ] && break
	kill -0 "${PIDS[0]}" 2>/dev/null || fail "the keyed node died: $(cat "$TMPD/single.log")"
	sleep 0.05
done
[ -n "$P1" ] || fail "the keyed node did not start: $(cat "$TMPD/single.log")"
fails_with "HTTP 401 invalid or missing API key.*refused" --port "$P1" --api-key wrong-key
fails_with "HTTP 401 invalid or missing API key.*--api-key" --port "$P1"
status --port "$P1" --api-key right-key-1234
[ "$RC" = 0 ] && grep -q "self" <<<"$OUT" && grep -qF "layers 0-$((n_layers - 1)) ($n_layers)" <<<"$OUT" ||
	fail "the right key: exit $RC: $OUT $ERR"
RC=0
SHOAL_API_KEY=right-key-1234 "$SHOAL" status --port "$P1" --json >/dev/null 2>&1 || RC=$?
[ "$RC" = 0 ] || fail "SHOAL_API_KEY is not used"

# ---------------------------------------------------------------- a fake node
# the Authorization header picks the answer
cat >"$TMPD/fake.js" <<'EOF'
const http = require("http"), net = require("net");
const A = "a1b2c3d4" + "0".repeat(24), B = "e5f6a7b8" + "1".repeat(24), C = "99887766" + "2".repeat(24);
const topo = {
	cluster: "home-lab", model: "llama-3.2-1b-q4_k_m", discovery: false,
	nodes: [
		{ id: A, address: "192.168.1.10:7070", api: 8642, host: "box1", cpu: "AMD Ryzen 7 5800X", cores: 8,
		  simd: ["avx2", "fma"], os: "Linux 6.1", mem_bandwidth_gbs: 38.5, matmul_gflops: 210.4,
		  memory: { total: 17179869184, available: 9663676416, usable: 8589934592, planned: 3328599654 },
		  layers: [0, 11], state: "self",
		  model_file: { size: 805306368, share: 536870912, share_verified: 536870912, verified: 805306368, from_hub: 268435456,
				from_peers: 536870912, rate_bytes_per_s: 0, table: true, whole: true, full_copy: true, to_this_node: 0 } },
		{ id: B, address: "192.168.1.11:7070", api: 8642, host: "box2", simd: "avx512 avx2", matmul_gflops: 0, mem_usable: 4294967296, planned: 1288490188, /* flat memory fields */
		  layers: [11, 16], state: "alive",
		  model_file: { size: 805306368, share: 268435456, share_verified: 134217728, verified: 134217728, from_hub: 0,
				from_peers: 134217728, rate_bytes_per_s: 12582912, table: true, whole: false, full_copy: false,
				to_this_node: 209715200 } },
		{ id: C, address: "192.168.1.12:7070", layers: null, state: "dead" },
	],
	links: [
		{ from: A, to: B, state: "up", rtt_ms: 0.21, bandwidth_mbps: 940 },
		{ from: A, to: C, state: "down", rtt_ms: null },
	],
	plan: { epoch: 3735928559, n_layers: 16, pending: true, error: "the model needs 9.1 GiB, the live nodes have 8.0 GiB" },
};
const srv = http.createServer((req, res) => {
	const mode = (req.headers.authorization || "").replace(/^Bearer /, "");
	if (req.url !== "/v1/topology" || req.headers.connection !== "close") {
		res.writeHead(400); res.end("bad request line or headers"); return;
	}
	if (mode === "chunked") { /* no Content-Length: node sends it chunked, in small pieces */
		const s = JSON.stringify(topo);
		res.writeHead(200, { "Content-Type": "application/json" });
		for (let i = 0; i < s.length; i += 37) res.write(s.slice(i, i + 37));
		res.end();
	} else if (mode === "err500") {
		res.writeHead(500, "Internal Server Error", { "Content-Type": "text/plain" }); res.end("boom\nsecond line");
	} else if (mode === "badjson") {
		res.writeHead(200, { "Content-Type": "application/json", "Content-Length": 9 }); res.end('{"nodes":');
	} else if (mode === "truncated") {
		res.writeHead(200, { "Content-Length": 1000 });
		res.write('{"nodes":[]', () => req.socket.destroy());
	} else if (mode === "big") { /* 5 MiB, chunked */
		res.writeHead(200, { "Content-Type": "application/json" });
		const piece = " ".repeat(1 << 16);
		for (let i = 0; i < 80; i++) res.write(piece);
		res.end("{}");
	} else {
		res.writeHead(404, { "Content-Type": "application/json" });
		res.end(JSON.stringify({ error: { message: "no such thing", type: "invalid_request_error" } }));
	}
});
/* raw answers, the connection left open: the client must stop at the end of the body */
const body = JSON.stringify({ nodes: [{ id: A, state: "self", layers: [0, 3] }], links: [], plan: { epoch: 7, n_layers: 3 } });
const raw = net.createServer(sock => {
	let req = "";
	sock.on("data", d => {
		req += d;
		if (!req.includes("\r\n\r\n")) return;
		if (/Bearer keepalive/.test(req))
			sock.write("HTTP/1.1 200 OK\r\ncontent-length: " + body.length + "\r\n\r\n" + body);
		else { /* 100 Continue first; chunks with extensions, a bare LF, a trailer */
			let s = "HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n";
			for (let i = 0; i < body.length; i += 10) {
				const c = body.slice(i, i + 10);
				s += c.length.toString(16) + (i % 20 ? ";ext=1\r\n" : "\n") + c + "\r\n";
			}
			sock.write(s + "0\r\nX-Trailer: yes\r\n\r\n");
		}
	});
});
srv.listen(0, "127.0.0.1", () => raw.listen(0, "127.0.0.1", () => console.log(srv.address().port, raw.address().port)));
EOF
node "$TMPD/fake.js" >"$TMPD/fake.port" 2>&1 &
PIDS+=($!)
FP="" RP=""
for _ in $(seq 1 100); do read -r FP RP <"$TMPD/fake.port" || true; [ -n "$RP" ] && break; sleep 0.05; done
[ -n "$RP" ] || fail "the fake node did not start: $(cat "$TMPD/fake.port")"

status --port "$FP" --api-key chunked
[ "$RC" = 0 ] || fail "chunked: exit $RC: $ERR"
for want in "cluster home-lab" "model llama-3.2-1b-q4_k_m" "plan deadbeef" "pending" "16 layers" \
	"plan error: the model needs 9.1 GiB" "a1b2c3d4  self   192.168.1.10:7070  api :8642  host box1" \
	"cpu AMD Ryzen 7 5800X  cores 8  simd avx2 fma" "os Linux 6.1  mem bw 38.5 GB/s  matmul 210.4 GFLOP/s" \
	"discovery off" \
	"[########............] 3.1/8.0 GiB" "(available 9.0 GiB of 16.0 GiB)" "[######..............] 1.2/4.0 GiB" \
	"layers 0-10 (11)" "layers 11-15 (5)" "99887766  dead" "no layers" \
	"a1b2c3d4 -> e5f6a7b8  up    rtt 0.21 ms  bw 940 Mbit/s" "a1b2c3d4 -> 99887766  down" \
	"share  [####################] 512.0/512.0 MiB verified  file 768.0/768.0 MiB  whole" \
	"from hub 256.0 MiB  from peers 512.0 MiB" \
	"share  [##########..........] 128.0/256.0 MiB verified  file 128.0/768.0 MiB  share only" \
	"from peers 128.0 MiB  at 12.0 MiB/s  sent here 200.0 MiB"; do
	grep -qF -- "$want" <<<"$OUT" || fail "chunked: '$want' is not shown: $OUT"
done
grep -qF "simd avx512 avx2" <<<"$OUT" && [ "$(grep -c matmul <<<"$OUT")" = 1 ] || fail "box2's machine line: $OUT"
echo "extended fields (fake node):"
sed 's/^/    /' <<<"$OUT"
status --port "$FP" --api-key chunked --json
[ "$(node -e 'console.log(JSON.parse(require("fs").readFileSync(0, "utf8")).nodes.length)' <<<"$OUT")" = 3 ] ||
	fail "chunked --json: $OUT"
fails_with "HTTP 500 Internal Server Error: boom second line$" --port "$FP" --api-key err500
fails_with "the topology is not JSON" --port "$FP" --api-key badjson
fails_with "closed before the whole answer" --port "$FP" --api-key truncated
fails_with "larger than 4 MiB" --port "$FP" --api-key big
fails_with "HTTP 404 no such thing" --port "$FP" --api-key other
for mode in keepalive chunk-extensions; do
	status --port "$RP" --api-key "$mode"
	[ "$RC" = 0 ] && grep -qF "layers 0-2 (3)" <<<"$OUT" || fail "raw $mode: exit $RC: $OUT $ERR"
done
echo "errors: one line on stderr, exit 1; raw answers (left open, 100 Continue, chunk extensions, trailers) read"
