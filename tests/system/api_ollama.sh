#!/usr/bin/env bash
# Ollama's API through the official `ollama` npm client against a real `shoal run` on stories260K
# (node --test tests/system/node/ollama.test.mjs): /api/chat and /api/generate against /v1's greedy
# text, options, the model listings, errors, tools and a stream the client aborts. The client is
# installed by scripts/install-deps.sh.
set -euo pipefail
cd "$(dirname "$0")/node"
[ -d node_modules/ollama ] || { echo "node_modules missing: run scripts/install-deps.sh"; exit 1; }
node --test --test-reporter=spec --test-concurrency=1 ollama.test.mjs
