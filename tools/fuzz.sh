#!/usr/bin/env bash
# Builds the libFuzzer targets (tests/fuzz/fuzz_*.c, clang, ASan+UBSan) into build-fuzz/ and runs
# each one for a fixed time on its committed seed corpus (tests/fuzz/corpus/<name>/).
#   tools/fuzz.sh                    every target 20 s (what tools/test.sh runs)
#   tools/fuzz.sh --seconds N        every target N seconds
#   tools/fuzz.sh --minutes N        every target N minutes (a real campaign)
#   tools/fuzz.sh [...] NAME...      only these targets (fuzz_config, or just config)
#   tools/fuzz.sh --build-only       build, run nothing
#   tools/fuzz.sh --no-build ...     run what build-fuzz/ holds (several runs side by side)
# New inputs the fuzzer finds go to build-fuzz/corpus/<name>/ (kept between runs, never committed);
# a crash leaves build-fuzz/artifacts/<name>/crash-* and fails the script. Exit 0: no crash.
# FUZZ_SEED=N fixes libFuzzer's seed (tools/test.sh uses 1, so a CI run walks the same inputs as a
# local run from a clean build-fuzz/); unset, every run draws a new one, as a campaign should.
set -euo pipefail
cd "$(dirname "$0")/.."
seconds=${FUZZ_SECONDS:-20}
build_only=0
build=1
names=()
while (($#)); do
  case "$1" in
    --seconds) seconds=$2; shift 2 ;;
    --minutes) seconds=$(($2 * 60)); shift 2 ;;
    --build-only) build_only=1; shift ;;
    --no-build) build=0; shift ;;
    -h|--help) sed -n 2,11p "$0"; exit 0 ;;
    -*) echo "fuzz.sh: unknown option $1" >&2; exit 2 ;;
    *) names+=("fuzz_${1#fuzz_}"); shift ;;
  esac
done

dir=build-fuzz
((build)) && tools/build.sh fuzz
((build_only)) && exit 0

if ((${#names[@]} == 0)); then
  for source in tests/fuzz/fuzz_*.c; do names+=("$(basename "$source" .c)"); done
fi

# Leaks count as findings. A slow input (10 s) or a runaway allocation (rss 2 GiB) is one too.
# stdin is /dev/null: a config naming /dev/stdin as a passwordFile must not wait for a terminal.
export ASAN_OPTIONS=detect_leaks=1:abort_on_error=1:allocator_may_return_null=1
export UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1
status=0
for name in "${names[@]}"; do
  if [ ! -x "$dir/tests/fuzz/$name" ]; then
    echo "fuzz.sh: no target $name (tests/fuzz/$name.c)" >&2
    status=1
    continue
  fi
  seeds=tests/fuzz/corpus/${name#fuzz_}
  work=$dir/corpus/${name#fuzz_}
  artifacts=$dir/artifacts/${name#fuzz_}
  mkdir -p "$seeds" "$work" "$artifacts"
  echo "== fuzz ${name#fuzz_} (${seconds}s)"
  # The first directory receives what the run finds; the committed seeds are only read.
  if ! "$dir/tests/fuzz/$name" -max_total_time="$seconds" -seed="${FUZZ_SEED:-0}" -timeout=10 -rss_limit_mb=2048 \
      -max_len=65536 -print_final_stats=1 -artifact_prefix="$artifacts/" "$work" "$seeds" \
      </dev/null >"$dir/$name.log" 2>&1; then
    status=1
    echo "fuzz.sh: $name FAILED; the input is in $artifacts/, the log in $dir/$name.log:" >&2
    grep -E "ERROR|SUMMARY|invariant|Test unit written" "$dir/$name.log" | head -20 >&2
  else
    grep -E "^stat::number_of_executed_units|^stat::new_units_added" "$dir/$name.log" |
      tr '\n' ' '
    echo
  fi
done
exit $status
