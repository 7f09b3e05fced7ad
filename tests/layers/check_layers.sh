#!/usr/bin/env bash
# The layers the build keeps apart, checked on what the compiler really
# included (Ninja's dependency log): no object of the torch-free core, or of
# the app's ui/ library, includes a libtorch header; none of the core
# includes a Qt header. Usage: check_layers.sh BUILD_DIR
set -euo pipefail
build=$1
cd "$build"
torch='/(ATen|c10|torch|caffe2)/'
qt='/(qt6|Qt[A-Za-z]*)/'
failures=0
check() {  # check LIBRARY PATTERN WHAT
  local library=$1 pattern=$2 what=$3 objects
  # The library's objects as the build has them now (not stale ones beside them).
  objects=$(ninja -t query "$library" | awk '/^    .*\.o$/ { print $1 }')
  [ -n "$objects" ] || { echo "no objects for $library: build first"; exit 1; }
  # ninja -t deps prints each object, then its headers indented.
  local found
  found=$(ninja -t deps $objects | awk -v pat="$pattern" '
    /^[^ ]/ { object = $1 }
    /^    / && $1 ~ pat { if (!(object in seen)) { print object " includes " $1; seen[object] = 1 } }')
  if [ -n "$found" ]; then
    echo "$what:"
    echo "$found" | sed 's/^/  /'
    failures=$((failures + 1))
  fi
}
check core/libdistgpt_core.a "$torch" "the torch-free core includes libtorch"
check core/libdistgpt_core.a "$qt" "the core includes Qt"
if [ -f ui/libdistgpt_ui.a ]; then
  check ui/libdistgpt_ui.a "$torch" "ui/ includes libtorch"
fi
[ "$failures" -eq 0 ] && echo "layers: the torch-free core and ui/ include no libtorch header; the core no Qt header"
exit "$failures"
