#!/usr/bin/env bash
# Installs the dependencies, then builds and runs the whole test suite twice:
#   1. build/test-release  gcc, -Werror
#   2. build/test-asan     clang -O2 -g, -Werror, ASan+UBSan, libFuzzer targets
# and finally runs every fuzz target for a short time (KT_FUZZ_SECONDS, default 10).
# Prints ctest's summary for both builds; exits non-zero if anything fails.
set -euo pipefail

top=$(cd "$(dirname "$0")/.." && pwd)
cd "$top"
jobs=$(nproc 2>/dev/null || echo 2)
fuzz_seconds=${KT_FUZZ_SECONDS:-10}

ops/install-deps.sh

status=0
run_suite() {
  local dir=$1; shift
  echo "=== configure $dir ($*)"
  cmake -S . -B "$dir" -DKT_WERROR=ON "$@" >"$dir.configure.log" 2>&1 || { cat "$dir.configure.log"; return 1; }
  echo "=== build $dir"
  cmake --build "$dir" -j"$jobs" >"$dir.build.log" 2>&1 || { tail -n 80 "$dir.build.log"; return 1; }
  echo "=== test $dir"
  (cd "$dir" && ctest --output-on-failure -j"$jobs") || return 1
}

mkdir -p build
run_suite build/test-release -DCMAKE_C_COMPILER=gcc -DCMAKE_BUILD_TYPE=RelWithDebInfo || status=1

if command -v clang >/dev/null 2>&1; then
  export ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=1:abort_on_error=1}
  export UBSAN_OPTIONS=${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}
  run_suite build/test-asan -DCMAKE_C_COMPILER=clang -DCMAKE_BUILD_TYPE=RelWithDebInfo \
    -DKT_SANITIZE=ON -DKT_FUZZ=ON || status=1

  if [ "$status" -eq 0 ] && [ "$fuzz_seconds" -gt 0 ]; then
    for f in build/test-asan/tests/fuzz_*; do
      [ -x "$f" ] || continue
      name=$(basename "$f"); name=${name#fuzz_}
      corpus=tests/fuzz/corpus/$name
      work=$(mktemp -d)
      echo "=== fuzz $name for ${fuzz_seconds}s"
      if ! "$f" -max_total_time="$fuzz_seconds" -print_final_stats=0 "$work" "$corpus" \
           >"build/fuzz-$name.log" 2>&1; then
        tail -n 40 "build/fuzz-$name.log"
        echo "fuzz $name FAILED (crash input saved in the current directory)"
        status=1
      fi
      rm -rf "$work"
    done
  fi
else
  echo "clang not found: sanitizer build and fuzzing skipped" >&2
  status=1
fi

if [ "$status" -eq 0 ]; then echo "ops/test.sh: all suites passed"; else echo "ops/test.sh: FAILED"; fi
exit "$status"
