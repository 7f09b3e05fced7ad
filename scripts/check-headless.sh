#!/usr/bin/env bash
# Checks a -DDISTGPT_HEADLESS=ON build: its programs link no Qt, and its CLI
# runs the bundled demo model over two of its own workers.
# Usage: scripts/check-headless.sh BUILD_DIR
set -euo pipefail
here=$(cd "$(dirname "$0")/.." && pwd)
build=$1
# What the programs themselves link (Debian's libtorch brings Qt 5 in through
# OpenCV; that is the distribution's, not ours).
for program in "$build/worker/distgpt-worker" "$build/app/distgpt-cli"; do
  if readelf -d "$program" | grep NEEDED | grep -qi qt; then
    echo "headless: $program links Qt:"; readelf -d "$program" | grep NEEDED | grep -i qt; exit 1
  fi
done
[ ! -e "$build/app/distgpt" ] || { echo "headless: the desktop app was built"; exit 1; }
out=$(mktemp -d)
trap 'rm -rf "$out"' EXIT
DISTGPT_WORKER="$build/worker/distgpt-worker" "$build/app/distgpt-cli" run --topology "$here/resources/topologies/pipeline-2.json" \
  --prompt "ROMEO:" --max-new-tokens 20 --seed 3 --json >"$out/run.json" 2>"$out/run.log" || { cat "$out/run.log"; exit 1; }
tokens=$(grep -c '' <(grep -o '"generated_ids"' "$out/run.json"))
[ "$tokens" -eq 1 ] && grep -q '"finish": "length"' "$out/run.json" || { echo "headless: unexpected run output"; cat "$out/run.json"; exit 1; }
echo "headless: no Qt linked; a 2-stage run of the demo model made its 20 tokens"
