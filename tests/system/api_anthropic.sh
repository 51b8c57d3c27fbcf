#!/usr/bin/env bash
# Anthropic's Messages API through the official `@anthropic-ai/sdk` client against a real `shoal run`
# on stories260K (node --test tests/system/node/anthropic.test.mjs): /v1/messages against
# /v1/chat/completions' greedy text, whole and streamed, the events, errors, x-api-key and tools.
# The client is installed by scripts/install-deps.sh.
set -euo pipefail
cd "$(dirname "$0")/node"
[ -d node_modules/@anthropic-ai/sdk ] || { echo "node_modules missing: run scripts/install-deps.sh"; exit 1; }
node --test --test-reporter=spec --test-concurrency=1 anthropic.test.mjs
