#!/usr/bin/env bash
# Installs what is missing, builds, and starts the distgpt desktop app on the
# bundled demo model. Without a display it runs the same demo on the command
# line: the demo model generating, alone and as a 3-stage pipeline.
set -euo pipefail
here=$(cd "$(dirname "$0")/.." && pwd)
build=${1:-$here/build}
"$here/scripts/setup.sh" "$build"
if [ -n "${DISPLAY:-}${WAYLAND_DISPLAY:-}" ]; then
  exec "$build/app/distgpt"
fi
echo "distgpt demo: no display here, so the command line shows it (the app needs a desktop session)."
"$build/app/distgpt-cli" inspect
"$build/app/distgpt-cli" generate --prompt "ROMEO:" --max-new-tokens 120 --temperature 0.8 --seed 1
"$build/app/distgpt-cli" run --topology "$here/resources/topologies/pipeline-3.json" \
  --prompt "JULIET:" --prompt "HAMLET:" --prompt "First Citizen:" --max-new-tokens 100 --temperature 0.8 --seed 1
