#!/usr/bin/env bash
# Tool calling through the official `openai` npm client (node --test tests/system/node/tools.test.mjs):
# a synthesized model served with the real Hermes 3 and Llama 3.1 tool-use templates.
set -euo pipefail
cd "$(dirname "$0")/node"
[ -d node_modules/openai ] || { echo "node_modules missing: run scripts/install-deps.sh"; exit 1; }
node --test --test-reporter=spec --test-concurrency=1 tools.test.mjs
