#!/usr/bin/env bash
# Structured output by constrained decoding (node --test tests/system/node/structured.test.mjs): the
# official `openai` client on a random-weight model with the Llama 3 vocabulary; replies checked with ajv.
set -euo pipefail
cd "$(dirname "$0")/node"
[ -d node_modules/ajv ] || { echo "node_modules missing: run scripts/install-deps.sh"; exit 1; }
node --test --test-reporter=spec --test-concurrency=1 structured.test.mjs
