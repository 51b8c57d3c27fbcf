#!/usr/bin/env bash
# The official `openai` npm client against a real `shoal run` on stories260K (node --test):
# tests/system/node/openai_client.test.mjs. The client is installed by scripts/install-deps.sh.
set -euo pipefail
cd "$(dirname "$0")/node"
[ -d node_modules/openai ] || { echo "node_modules missing: run scripts/install-deps.sh"; exit 1; }
node --test --test-reporter=spec openai_client.test.mjs
