#!/usr/bin/env bash
# packaging/distgpt-worker.service as `systemd-analyze verify` reads it, with
# ExecStart pointed at the worker just built (verify wants the binary there):
# any complaint, warnings included, fails.
# Usage: check-systemd-unit.sh SYSTEMD_ANALYZE WORKER UNIT WORK_DIR
set -euo pipefail
analyze=$1 worker=$2 unit=$3 work=$4
mkdir -p "$work"
sed "s|/usr/bin/distgpt-worker|$worker|" "$unit" > "$work/distgpt-worker.service"
output=$("$analyze" verify "$work/distgpt-worker.service" 2>&1) || { echo "$output"; exit 1; }
if [ -n "$output" ]; then echo "$output"; exit 1; fi
echo "distgpt-worker.service: verified"
