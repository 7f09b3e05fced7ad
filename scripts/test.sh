#!/usr/bin/env bash
# Installs what is missing, builds, and runs every test.
set -euo pipefail
here=$(cd "$(dirname "$0")/.." && pwd)
build=${1:-$here/build}
# Each stage says how long it took: the whole must stay well under CI's 90 minutes.
stage_start=$SECONDS
took() { echo "test.sh: $1 took $((SECONDS - stage_start)) s (all so far: $SECONDS s)"; stage_start=$SECONDS; }

"$here/scripts/setup.sh" "$build"
took "setup and build"
export QT_QPA_PLATFORM=offscreen
ctest --test-dir "$build" --output-on-failure -j 2
took "the tests"

# A bounded fuzzing run of every parser of outside input, over the committed
# corpus, with clang's libFuzzer, AddressSanitizer and UBSan (20 s each).
fuzz_build=${build}-fuzz
cmake -S "$here" -B "$fuzz_build" -G Ninja -DDISTGPT_FUZZ=ON -DCMAKE_CXX_COMPILER=clang++ -DCMAKE_C_COMPILER=clang >/dev/null
cmake --build "$fuzz_build" -j "${DISTGPT_JOBS:-2}"
ctest --test-dir "$fuzz_build" --output-on-failure -j 2 --timeout 120
took "fuzzing"

# The headless build a Raspberry Pi or a Jetson makes: core, the worker and
# the CLI, no Qt found or linked; it runs a real 2-stage pipeline.
headless_build=${build}-headless
cmake -S "$here" -B "$headless_build" -G Ninja -DCMAKE_BUILD_TYPE=Release -DDISTGPT_HEADLESS=ON >/dev/null
cmake --build "$headless_build" -j "${DISTGPT_JOBS:-2}"
"$here/scripts/check-headless.sh" "$headless_build"
took "the headless build"

# Every test again under AddressSanitizer + UBSan, and the multi-threaded
# parts under ThreadSanitizer (see HACKING.md).
"$here/scripts/sanitize.sh" address "${build}-asan"
took "AddressSanitizer"
"$here/scripts/sanitize.sh" thread "${build}-tsan"
took "ThreadSanitizer"
