#!/usr/bin/env bash
# A node that refuses a peer says why, and so does the peer: pairs of nodes that list each other
# (--peers, no discovery) but differ in model, cluster name, cluster key, or have a key on one side
# only. Each node of each pair logs the reason within a few seconds, and neither becomes a member
# of the other (each lists only itself).
set -euo pipefail
. "$(dirname "$0")/lib/cluster.sh"
M="$STORIES"
O="$TMPD/other.gguf"
"$SHOAL" synth --preset test-tiny --type q8_0 --vocab "$M" -o "$O" 2>/dev/null

# pair "args of node 0" "args of node 1" "pattern in node 0's log" "pattern in node 1's log"
pair() {
	local k ok
	cluster_start 2 "" "$1" "$2"
	for k in $(seq 1 100); do
		ok=1
		grep -qE "$3" "${LOGS[0]}" || ok=0
		grep -qE "$4" "${LOGS[1]}" || ok=0
		[ $ok = 1 ] && break
		sleep 0.1
	done
	[ $ok = 1 ] || fail "$1 | $2: the reasons were not logged on both sides ('$3', '$4')"
	for i in 0 1; do
		[ "$(topology "${API_PORTS[$i]}" | jq '.nodes | length')" = 1 ] || fail "node $i of '$1 | $2' admitted the other"
	done
	echo "$1 | $2:"
	grep -hE "$3" "${LOGS[0]}" | head -2 | sed 's/^/  0: /'
	grep -hE "$4" "${LOGS[1]}" | head -2 | sed 's/^/  1: /'
	cluster_stop
}

both() { # the pattern both nodes of a refused pair log about the model, from their own side
	echo "(refusing the node [0-9a-f]{8} at 127.0.0.1:[0-9]+|the node at 127.0.0.1 refuses this node): $1"
}
pair "-m $M" "-m $O" \
	"refusing the node [0-9a-f]{8} at 127.0.0.1:[0-9]+: it serves another model \([0-9a-f]{16}:other.gguf; this node serves [0-9a-f]{16}:stories260K.gguf\)" \
	"the node at 127.0.0.1 refuses this node: it serves another model \([0-9a-f]{16}:stories260K.gguf; this node serves [0-9a-f]{16}:other.gguf\)"
pair "-m $M --cluster-name lab" "-m $M" \
	"$(both "it is in cluster 'shoal', this node in 'lab'")" "$(both "it is in cluster 'lab', this node in 'shoal'")"
pair "-m $M --cluster-key first-key-123" "-m $M --cluster-key second-key-456" \
	"cluster: (a node could not link with this node \(port [0-9]+\)|cannot link with the node at 127.0.0.1:[0-9]+): the other node (has another cluster key|hung up in the handshake: another cluster key)" \
	"cluster: (a node could not link with this node \(port [0-9]+\)|cannot link with the node at 127.0.0.1:[0-9]+): the other node (has another cluster key|hung up in the handshake: another cluster key)"
pair "-m $M --cluster-key only-one-key-1" "-m $M" \
	"the other node (has no cluster key, this node has one|hung up in the handshake: another cluster key, or none)" \
	"the other node (has a cluster key, this node has none|hung up in the handshake: it has a cluster key, this node has none)"
