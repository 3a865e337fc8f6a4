#!/usr/bin/env bash
# Runs every test: installs what is missing, checks formatting, builds the release and the
# sanitizer (ASan+UBSan) flavours, and runs the whole ctest suite on both: C unit tests,
# integration tests against the real binary, and the busted specs of the Lua scripts. Then every
# libFuzzer target runs for FUZZ_SECONDS (20 s) on its seed corpus (tools/fuzz.sh): with the 11
# targets of today about 4 min of fuzzing plus the clang build (about 1 min); any crash, leak or
# broken invariant fails the run.
set -euo pipefail
cd "$(dirname "$0")/.."
tools/setup.sh

echo "== clang-format"
git ls-files '*.c' '*.h' | xargs -r clang-format --dry-run -Werror

echo "== vCenter simulator peer"
tools/build-vcsim.sh

status=0
for flavour in release asan; do
  echo "== build ($flavour)"
  tools/build.sh "$flavour"
  dir=build; [ "$flavour" = asan ] && dir=build-asan
  echo "== ctest ($flavour)"
  ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 \
    ctest --test-dir "$dir" --output-on-failure -j2 || status=1
done

echo "== fuzz (each target ${FUZZ_SECONDS:-20}s)"
FUZZ_SEED=${FUZZ_SEED:-1} tools/fuzz.sh --seconds "${FUZZ_SECONDS:-20}" || status=1

exit $status
