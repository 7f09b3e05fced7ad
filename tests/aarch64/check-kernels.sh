#!/usr/bin/env bash
# The decode kernels as a 64-bit Arm board runs them: kernel_check.cpp and the
# kernels' sources cross-compiled for aarch64 and run under qemu-user, as a
# Raspberry Pi 4 (Cortex-A72, ARMv8.0: NEON) and a Pi 5 (Cortex-A76,
# ARMv8.2: NEON with the dot-product instructions). Each build runs with its
# NEON kernels and again with DISTGPT_KERNELS=portable; the block formats'
# results must be the same bits both ways.
# Usage: check-kernels.sh WORK_DIR   (exit 77: skipped, no cross compiler or qemu)
set -euo pipefail
here=$(cd "$(dirname "$0")/../.." && pwd)
work=${1:?work directory}
cxx=aarch64-linux-gnu-g++
if ! command -v "$cxx" >/dev/null || ! command -v qemu-aarch64 >/dev/null; then
  echo "skipped: needs $cxx and qemu-aarch64 (Debian: g++-aarch64-linux-gnu qemu-user; scripts/setup.sh installs them)"
  exit 77
fi
mkdir -p "$work"
core=$here/core
sources=("$here/tests/aarch64/kernel_check.cpp" "$core/model/rows_times_weight.cpp" "$core/model/simd.cpp"
  "$core/weights/block_quant.cpp" "$core/weights/half_float.cpp" "$core/weights/weight_format.cpp" "$core/weights/dtype.cpp")
status=0
for board in "pi4 cortex-a72 armv8-a" "pi5 cortex-a76 armv8.2-a+dotprod"; do
  read -r name cpu march <<<"$board"
  binary=$work/kernel_check-$name
  "$cxx" -std=c++20 -O3 -fopenmp -static -march="$march" -I"$core" -o "$binary" "${sources[@]}" 2> "$work/$name.build.log" ||
    { cat "$work/$name.build.log"; exit 1; }
  echo "== $name ($cpu, -march=$march)"
  qemu-aarch64 -cpu "$cpu" "$binary" | tee "$work/$name.neon.txt" || status=1
  DISTGPT_KERNELS=portable qemu-aarch64 -cpu "$cpu" "$binary" > "$work/$name.portable.txt" || { cat "$work/$name.portable.txt"; status=1; }
  grep -q "kernels: NEON" "$work/$name.neon.txt" || { echo "FAIL $name: the NEON kernels did not run"; status=1; }
  if ! diff <(grep -E '^digest (q8|q4)' "$work/$name.neon.txt") <(grep -E '^digest (q8|q4)' "$work/$name.portable.txt"); then
    echo "FAIL $name: NEON and the plain C++ kernels give different bits for q8/q4"
    status=1
  fi
done
exit $status
