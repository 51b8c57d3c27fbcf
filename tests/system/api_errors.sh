#!/usr/bin/env bash
# Malformed requests, raw socket garbage and the API key against a real `shoal run`
# (node --test tests/system/node/errors.test.mjs): the right 4xx and an OpenAI error object for
# each, and a good request answered after each.
set -euo pipefail
cd "$(dirname "$0")/node"
[ -d node_modules/openai ] || { echo "node_modules missing: run scripts/install-deps.sh"; exit 1; }
node --test --test-reporter=spec errors.test.mjs
