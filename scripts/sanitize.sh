#!/usr/bin/env bash
# The tests under sanitizers, as CI runs them:
#   scripts/sanitize.sh address   AddressSanitizer, LeakSanitizer and UBSan: every test of our code
#                                 (not the checks of files and packaging, not the aarch64 kernels'
#                                 cross build, not Ansible's run, and the app on screen at one size:
#                                 the others run the same code, and under a sanitizer each takes minutes)
#   scripts/sanitize.sh thread    ThreadSanitizer: the multi-threaded parts (controller and
#                                 heartbeats, workers and their liveness and discovery answerer,
#                                 shared-memory rings, the HTTP server and its serving run, emulated links)
# Our code is instrumented; libtorch, Qt and libzmq are not. Workers the tests
# start are sanitized too and write their reports to the same folder; any
# report from any process fails the run.
set -euo pipefail
here=$(cd "$(dirname "$0")/.." && pwd)
kind=${1:?address or thread}
build=${2:-$here/build-$kind}
case "$kind" in
  address) targets=(all)
           tests=(-E '^(format|layers|packaging_metadata|systemd_unit|kernels_aarch64|test_ansible|test_app_on_screen_1920x1080_x1|test_app_on_screen_2732x1536_x2)$') ;;
  thread) targets=(distgpt-worker distgpt-cli test_shm_ring test_liveness test_faults test_worker_input test_discovery test_serve test_link_emulation)
          tests=(-R '^(test_shm_ring|test_liveness|test_faults|test_worker_input|test_discovery|test_serve|test_link_emulation|fetch_openai_client|fetch_llama_tokenizers)$') ;;
  *) echo "sanitize.sh: '$kind' is not address or thread" >&2; exit 1 ;;
esac

cmake -S "$here" -B "$build" -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo -DCMAKE_CXX_FLAGS_RELWITHDEBINFO="-O1 -g1 -DNDEBUG" \
  -DDISTGPT_SANITIZE="$kind" >/dev/null
cmake --build "$build" -j "${DISTGPT_JOBS:-2}" --target "${targets[@]}"

reports=$build/sanitizer-reports
rm -rf "$reports" && mkdir -p "$reports"
export ASAN_OPTIONS="log_path=$reports/asan:detect_leaks=1"
export LSAN_OPTIONS="suppressions=$here/tests/sanitizers/lsan.supp:print_suppressions=0"
export UBSAN_OPTIONS="log_path=$reports/ubsan:print_stacktrace=1:halt_on_error=1"
export TSAN_OPTIONS="log_path=$reports/tsan:suppressions=$here/tests/sanitizers/tsan.supp:halt_on_error=1:second_deadlock_stack=1:die_after_fork=0"
export QT_QPA_PLATFORM=offscreen
status=0
ctest --test-dir "$build" --output-on-failure -j 2 "${tests[@]}" || status=1
if compgen -G "$reports/*" >/dev/null; then
  echo "sanitize.sh ($kind): reports:" >&2
  for f in "$reports"/*; do echo "== $f" >&2; head -60 "$f" >&2; done
  status=1
fi
exit $status
