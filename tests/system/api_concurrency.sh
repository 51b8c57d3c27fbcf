#!/usr/bin/env bash
# Slots, batched steps, the bounded queue, disconnects and shutdown of a real `shoal run`
# (node --test tests/system/node/concurrency.test.mjs).
set -euo pipefail
cd "$(dirname "$0")/node"
[ -d node_modules/openai ] || { echo "node_modules missing: run scripts/install-deps.sh"; exit 1; }
node --test --test-reporter=spec concurrency.test.mjs
