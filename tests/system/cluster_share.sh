#!/usr/bin/env bash
# Download once, share over the LAN (docs/architecture.md "Sharing a model"), in network namespaces
# (lib/netns.sh): hosts 1-4 on a bridge, and the hub stand-in (tests/system/hub/hub.mjs) on host 9,
# whose link is shaped by `tc tbf` to 40 Mbit/s, so the internet is the slow part as in a home. The
# model is `shoal synth --preset test-mid --type q4_0` (~51 MB, 8 layers, tied head) served as
# test/share-GGUF:Q4_0.
#   1. one node alone pulls it through that link (`shoal pull`): the single-pull time; a node alone on
#      the pulled file gives the reference completion;
#   2. cold start: three nodes `shoal run -m REF --no-full-copy` at once, empty caches. The first
#      answer equals the reference on every node; the hub served at most 1.02x the file (its own
#      counter); the time from start to the first answer is at most 1.3x the single pull; each node
#      holds only its share (its ranges store, and the blocks on disk);
#   3. the same three restarted with the background copy on: they resume from what they verified and
#      copy the rest from each other, no hub bytes; every node ends with the whole blob, sha256 = oid;
#   4. a fourth node joins late over a 100 Mbit/s link: one peer (restarted holding no layers) has a
#      corrupted copy, whose chunks are rejected and fetched from others; a feeding node is killed
#      mid-transfer; the late node gets everything from peers and serves with the survivor, the same
#      answer, and ends whole and verified;
#   5. `shoal pull` on host 1 (its node killed, its cache emptied) gets the file from the peers with no
#      hub bytes, and moves no layers.
# Figures go to stdout (docs/performance.md quotes them). Needs root and `ip netns` (else SKIP).
set -euo pipefail
[ -z "${SHOAL:-}" ] || SHOAL=$(realpath "$SHOAL")
cd "$(dirname "$0")/../.."
: "${SHOAL:=$PWD/build/shoal}" "${STORIES:=$PWD/models/stories260K.gguf}"
. tests/system/lib/netns.sh
netns_require
command -v tc >/dev/null || { echo "SKIP: needs tc (iproute2)"; exit 77; }

SLOW=1
[ -n "${SAN:-}" ] && SLOW=4
REPO=test/share-GGUF
REF=$REPO:Q4_0
HUB_HOST=9
# seeded sampling equals one node's too, and varies more than greedy output of random weights
GREEDY='{"prompt":"Once upon a time","max_tokens":32,"temperature":1,"seed":7,"ignore_eos":true}'

netns_setup 4
netns_host_add $HUB_HOST
HUBIP=$(netns_ip $HUB_HOST)
ns_exec $HUB_HOST tc qdisc add dev eth0 root tbf rate 40mbit burst 64kb latency 200ms || fail "tc tbf on the hub"

mkdir -p "$TMPD/hub/$REPO"
MODEL="$TMPD/hub/$REPO/share-Q4_0.gguf"
"$SHOAL" synth --preset test-mid --type q4_0 --vocab "$STORIES" -o "$MODEL" >/dev/null 2>&1 || fail "synth"
SIZE=$(stat -c %s "$MODEL")
OID=$(sha256sum "$MODEL" | cut -d' ' -f1)
ip netns exec "$NS_PREFIX-h$HUB_HOST" node tests/system/hub/hub.mjs --root "$TMPD/hub" --host "$HUBIP" --port 8080 \
	>"$TMPD/hub.log" 2>&1 &
PIDS[hub]=$!
for k in $(seq 1 100); do grep -q "hub listening" "$TMPD/hub.log" && break; sleep 0.1; done
grep -q "hub listening" "$TMPD/hub.log" || fail "the hub stand-in did not start: $(cat "$TMPD/hub.log")"
HUB="http://$HUBIP:8080"
export HF_ENDPOINT=$HUB
hub_bytes() { nscurl -f "$HUB/__stats" | jq '[.bytes[]] | add // 0'; }
hub_reset() { nscurl -f -X POST "$HUB/__reset" >/dev/null; }
now() { date +%s.%N; }
ratio() { echo "scale=3; $1 / $2" | bc | sed 's/^\./0./'; }
le() { [ "$(echo "$1 <= $2" | bc)" = 1 ]; }

# ---- 1. one node pulls alone
t=$(now)
ns_exec 1 env HF_HUB_CACHE="$TMPD/single" "$SHOAL" pull "$REF" -q --no-discovery >"$TMPD/pull.log" 2>&1 ||
	fail "pull: $(cat "$TMPD/pull.log")"
T_SINGLE=$(echo "$(now) - $t" | bc)
PULLED=$(find "$TMPD/single" -path '*/blobs/*' -type f | head -1)
[ "$(sha256sum "$PULLED" | cut -d' ' -f1)" = "$OID" ] || fail "the single pull's blob is not the file"
echo "single pull: $SIZE bytes in ${T_SINGLE}s ($(hub_bytes) hub bytes)"
node_start_ns 1 alone "$TMPD/st-alone" -m "$PULLED" --no-discovery -t 1 --port 8642
node_wait_health alone 30
REF_TEXT=$(complete_on alone "$GREEDY")
node_stop alone

# ---- 2. cold start, three nodes at once
start_node() { # host name [args]: its own cache and state
	local i=$1 name=$2
	shift 2
	HF_HUB_CACHE="$TMPD/cache-$name" node_start_ns "$i" "$name" "$TMPD/st-$name" -m "$REF" -t 1 "$@"
}
first_answer() { # name timeout: waits for a completion that succeeds; prints its text
	local t out text
	t=$(now)
	while :; do
		node_alive "$1" || fail "node $1 died"
		out=$(nscurl "$(node_url "$1")/v1/completions" -H 'Content-Type: application/json' -d "$GREEDY" 2>/dev/null) || out=""
		if [ -n "$out" ] && text=$(jq -er '.choices[0].text' <<<"$out" 2>/dev/null); then
			echo "$text"
			return 0
		fi
		time_over "$t" "$2" && fail "node $1: no answer within $2 s: $out"
		sleep 0.2
	done
}
file_of() { topo "$1" | jq -c '.nodes[] | select(.state == "self") | .model_file'; }

hub_reset
T0=$(now)
for i in 1 2 3; do start_node "$i" "n$i" --no-full-copy; done
TEXT=$(first_answer n1 $((120 * SLOW)))
T_FIRST=$(echo "$(now) - $T0" | bc)
[ "$TEXT" = "$REF_TEXT" ] || fail "the cluster's answer differs from one node's: '$TEXT' vs '$REF_TEXT'"
for n in n2 n3; do
	[ "$(complete_on $n "$GREEDY")" = "$REF_TEXT" ] || fail "node $n answers otherwise"
done
HB=$(hub_bytes)
[ -z "${SHARE_DEBUG:-}" ] || nscurl -f "$HUB/__stats" | jq -c ".requests[] | [.t, .method, .status, .range]" >"$SHARE_DEBUG"
echo "cold start of 3 nodes: first answer after ${T_FIRST}s ($(ratio "$T_FIRST" "$T_SINGLE")x the single pull);" \
	"hub bytes $HB ($(ratio "$HB" "$SIZE")x the file)"
le "$HB" "$(echo "$SIZE * 1.02" | bc)" || fail "the hub served $HB bytes, more than 1.02x the file's $SIZE"
[ -n "${SAN:-}" ] || le "$T_FIRST" "$(echo "$T_SINGLE * 1.3" | bc)" ||
	fail "the first answer took ${T_FIRST}s, more than 1.3x the single pull's ${T_SINGLE}s"
sleep 2 # nothing more arrives: --no-full-copy
for n in n1 n2 n3; do
	f=$(file_of $n)
	part=$(find "$TMPD/cache-$n" -name '*.part' | head -1)
	[ -n "$part" ] || fail "node $n: no .part file (it should hold only its share)"
	disk=$(du -B1 "$part" | cut -f1)
	echo "  node $n: $(jq -r '"share \(.share) bytes, verified \(.verified), from the hub \(.from_hub), from peers \(.from_peers)"' <<<"$f"), on disk $disk"
	jq -e --argjson size "$SIZE" '.share_verified == .share and .verified < $size and .whole == false and .table' \
		<<<"$f" >/dev/null || fail "node $n does not hold exactly its verified share: $f"
	le "$disk" "$(jq '.verified + 1048576' <<<"$f")" || fail "node $n: $disk bytes on disk for a share of $(jq .verified <<<"$f")"
done

# ---- 3. the background copy: restarted, each gets the rest from the others
for n in n1 n2 n3; do kill -TERM "${PIDS[$n]}"; done
for n in n1 n2 n3; do wait "${PIDS[$n]}" 2>/dev/null || true; PIDS[$n]=""; done
hub_reset
for i in 1 2 3; do start_node "$i" "n$i"; done
t=$(now)
for n in n1 n2 n3; do
	while ! file_of $n 2>/dev/null | jq -e '.whole' >/dev/null 2>&1; do
		node_alive $n || fail "node $n died"
		time_over "$t" $((60 * SLOW)) && fail "node $n has not the whole file after 60 s: $(file_of $n)"
		sleep 0.2
	done
done
for n in n1 n2 n3; do
	blob=$(find "$TMPD/cache-$n" -path "*/blobs/$OID" -type f)
	[ -n "$blob" ] && [ "$(sha256sum "$blob" | cut -d' ' -f1)" = "$OID" ] || fail "node $n: no whole verified blob"
	echo "  node $n: whole, $(file_of $n | jq -r '"from peers \(.from_peers) bytes"')"
done
[ "$(hub_bytes)" = 0 ] || fail "the background copy took $(hub_bytes) bytes from the hub"
[ "$(first_answer n2 30)" = "$REF_TEXT" ] || fail "after the copy node n2 answers otherwise"
echo "background copy: every node whole and verified, 0 hub bytes"

# ---- 4. a late node, a corrupt peer, a feeder killed
node_stop n3
blob3=$(find "$TMPD/cache-n3" -path "*/blobs/$OID" -type f)
python3 - "$blob3" <<'PY'
import sys
with open(sys.argv[1], 'r+b') as f:
    f.seek(0, 2); size = f.tell()
    for off in range(4 << 20, size, 4 << 20):  # a byte in every chunk but the first (the header)
        f.seek(off + 12345); b = f.read(1); f.seek(off + 12345); f.write(bytes([b[0] ^ 0x5a]))
PY
start_node 3 n3 --memory-limit 1M # a seeder of rotten chunks: holds no layers
ip netns exec "$NS_SW" tc qdisc add dev "${NS_PREFIX}h4" root tbf rate 100mbit burst 64kb latency 200ms ||
	fail "tc tbf on host 4"
sleep 2
hub_reset
start_node 4 n4
t=$(now)
while :; do
	v=$(file_of n4 2>/dev/null | jq -r '.verified // 0' 2>/dev/null) || v=0
	[ "${v:-0}" -gt $((SIZE / 4)) ] && break
	node_alive n4 || fail "node n4 died"
	time_over "$t" $((60 * SLOW)) && fail "node n4 got no quarter of the file from its peers: $(file_of n4)"
	sleep 0.1
done
node_stop n1
echo "  killed node n1 while node n4 held $v of $SIZE bytes"
TEXT=$(first_answer n4 $((60 * SLOW)))
[ "$TEXT" = "$REF_TEXT" ] || fail "the late node answers otherwise: '$TEXT'"
[ "$(complete_on n2 "$GREEDY")" = "$REF_TEXT" ] || fail "node n2 answers otherwise after the join"
t=$(now)
while ! file_of n4 | jq -e '.whole' >/dev/null 2>&1; do
	time_over "$t" $((60 * SLOW)) && fail "node n4 never got the whole file: $(file_of n4)"
	sleep 0.2
done
blob4=$(find "$TMPD/cache-n4" -path "*/blobs/$OID" -type f)
[ -n "$blob4" ] && [ "$(sha256sum "$blob4" | cut -d' ' -f1)" = "$OID" ] || fail "node n4's blob is not the file"
grep -q "sent chunk .* wrong sha256" "${LOGS[n4]}" || fail "node n4 never rejected a corrupt chunk"
HB4=$(hub_bytes)
echo "late node: whole and verified, $(file_of n4 | jq -r '"from peers \(.from_peers) bytes"'), hub bytes $HB4;" \
	"$(grep -c "wrong sha256" "${LOGS[n4]}") corrupt chunks rejected"
[ "$HB4" -le 262144 ] || fail "the late node took $HB4 bytes from the hub: more than its header"

# ---- 5. shoal pull where the peers have the model: from them, holding no layers
hub_reset
LAYERS='[.nodes[] | select(.state != "dead" and .layers[1] > .layers[0]) | [.id, .layers]] | sort'
PLAN=$(topo n2 | jq -c "$LAYERS")
t=$(now)
ns_exec 1 env XDG_STATE_HOME="$TMPD/st-pull" HF_HUB_CACHE="$TMPD/cache-pull" "$SHOAL" pull "$REF" \
	>"$TMPD/pull5.out" 2>"$TMPD/pull5.log" || fail "pull from peers: $(cat "$TMPD/pull5.log")"
T_PULL=$(echo "$(now) - $t" | bc)
got=$(realpath "$(tail -1 "$TMPD/pull5.out")")
[ "$(sha256sum "$got" | cut -d' ' -f1)" = "$OID" ] || fail "the pulled file is not the model: $got"
[ -z "$(find "$TMPD/cache-pull" -name '*.part')" ] || fail "the pull left a part file"
grep -q "from [0-9] peers*" "$TMPD/pull5.log" || fail "the pull's progress names no peers: $(cat "$TMPD/pull5.log")"
HB5=$(hub_bytes)
[ "$HB5" = 0 ] || fail "the pull from peers took $HB5 file bytes from the hub"
[ "$(complete_on n2 "$GREEDY")" = "$REF_TEXT" ] || fail "node n2 answers otherwise after the pull"
[ "$(topo n2 | jq -c "$LAYERS")" = "$PLAN" ] ||
	fail "the pull moved the plan: $PLAN, now $(topo n2 | jq -c '[.nodes[] | .layers]')"
echo "pull from peers: $SIZE bytes in ${T_PULL}s, 0 hub bytes ($(tail -1 "$TMPD/pull5.log"))"
echo "ok"
