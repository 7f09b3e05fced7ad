#!/usr/bin/env bash
# Test fixture: Llama 2's and Llama 3's tokenizers as tokenizer.json, built
# from the npm packages llama-tokenizer-js@1.2.2 and llama3-tokenizer-js@1.2.0
# (written by others, from Meta's files), with their encodings of every text
# in tests/data/tokenizer_texts.json. Writes OUT/llama2/ and OUT/llama3/.
set -euo pipefail
out=$1
here=$(cd "$(dirname "$0")" && pwd)
npm_dir=$out/npm
if [ ! -d "$npm_dir/node_modules/llama3-tokenizer-js" ] || [ ! -d "$npm_dir/node_modules/llama-tokenizer-js" ]; then
  mkdir -p "$npm_dir"
  npm install --prefix "$npm_dir" llama-tokenizer-js@1.2.2 llama3-tokenizer-js@1.2.0 --no-audit --no-fund --loglevel=error
fi
cp "$here/llama_tokenizers.mjs" "$npm_dir/llama_tokenizers.mjs"  # resolves the packages from beside it
node "$npm_dir/llama_tokenizers.mjs" "$here/../data/tokenizer_texts.json" "$out"
