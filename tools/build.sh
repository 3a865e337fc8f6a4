#!/usr/bin/env bash
# Builds event-router. Usage: tools/build.sh [release|asan|fuzz]   (default release)
#   release -> build/        asan -> build-asan/ (AddressSanitizer + UndefinedBehaviorSanitizer)
#   fuzz -> build-fuzz/ (clang: the libFuzzer targets of tests/fuzz; tools/fuzz.sh runs them)
set -euo pipefail
cd "$(dirname "$0")/.."
flavour=${1:-release}
case "$flavour" in
  release) dir=build; flags=(-DCMAKE_BUILD_TYPE=RelWithDebInfo) ;;
  asan) dir=build-asan; flags=(-DCMAKE_BUILD_TYPE=Debug -DSANITIZE=ON) ;;
  fuzz) dir=build-fuzz; flags=(-DCMAKE_BUILD_TYPE=Debug -DFUZZ=ON); export CC=clang ;;
  *) echo "usage: $0 [release|asan|fuzz]" >&2; exit 2 ;;
esac
cmake -S . -B "$dir" "${flags[@]}" >/dev/null
cmake --build "$dir" -j"$(nproc)"
