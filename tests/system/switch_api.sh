#!/usr/bin/env bash
# Switching the model a node and its cluster serve (node --test tests/system/node/switch.test.mjs):
# POST /api/shoal/switch on a node alone and on 3-node loopback clusters (a file, a model too big,
# a hub reference shared from the hub stand-in), the old model released only after its requests.
set -euo pipefail
cd "$(dirname "$0")/node"
[ -d node_modules/openai ] || { echo "node_modules missing: run scripts/install-deps.sh"; exit 1; }
node --test --test-reporter=spec --test-concurrency=1 switch.test.mjs
