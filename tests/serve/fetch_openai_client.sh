#!/usr/bin/env bash
# Test fixture: OpenAI's official Node client (openai@6.30.1, written by
# others), installed with npm into OUT/node_modules, and the checks that
# drive a distgpt server with it.
set -euo pipefail
out=$1
here=$(cd "$(dirname "$0")" && pwd)
if [ ! -d "$out/node_modules/openai" ]; then
  mkdir -p "$out"
  npm install --prefix "$out" openai@6.30.1 --no-audit --no-fund --loglevel=error
fi
cp "$here/openai_checks.mjs" "$out/openai_checks.mjs"  # resolves the package from beside it
