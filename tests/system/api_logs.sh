#!/usr/bin/env bash
# What a running node tells a person (node --test tests/system/node/logs.test.mjs): one log line per
# completion request, streamed, cancelled or refused, and GET / listing the endpoints.
set -euo pipefail
cd "$(dirname "$0")/node"
[ -d node_modules/openai ] || { echo "node_modules missing: run scripts/install-deps.sh"; exit 1; }
node --test --test-reporter=spec logs.test.mjs
