#!/usr/bin/env bash
# The web UI's own endpoints (node --test tests/system/node/ui_api.test.mjs): the page and its
# assets, /api/shoal/models, Ollama's /api/pull against the hub stand-in, shoal.nodes in replies,
# tokens_per_s in the topology, and the API key over all of them.
set -euo pipefail
cd "$(dirname "$0")/node"
[ -d node_modules/openai ] || { echo "node_modules missing: run scripts/install-deps.sh"; exit 1; }
node --test --test-reporter=spec --test-concurrency=1 ui_api.test.mjs
