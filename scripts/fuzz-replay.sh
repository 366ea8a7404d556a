#!/usr/bin/env bash
# Builds every fuzz target with cargo fuzz on stable Rust (no sanitizer) and runs each committed
# input through it once: fuzz/seeds/<target>/* and fuzz/regressions/<target>/*. No fuzzing; CI's
# check that every past finding stays fixed and every seed still passes the target's assertions.
#
#   scripts/fuzz-replay.sh [TARGET...]
#
# Fails (exit 1) when an input panics (a failed assertion or any other panic), aborts, runs over
# FUZZ_TIMEOUT seconds (default 10) or over 2 GB of memory; when a target has no input to replay;
# or when fuzz/seeds/ or fuzz/regressions/ holds a folder that names no target (inputs that would
# never run). Needs cargo-fuzz (`cargo install --locked cargo-fuzz`), not a nightly toolchain:
# `--sanitizer none` passes no -Z flag, and the sanitizer-coverage instrumentation libFuzzer needs
# uses stable codegen options. The build is cargo fuzz's default: release with debug assertions and
# overflow checks.
set -euo pipefail

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root/fuzz"
timeout="${FUZZ_TIMEOUT:-10}"

if ! cargo fuzz --version >/dev/null 2>&1; then
  echo "fuzz-replay: cargo-fuzz is not installed (cargo install --locked cargo-fuzz)" >&2
  exit 1
fi
# cargo fuzz has no --locked: refuse a fuzz/Cargo.lock that the build would rewrite (it also
# records the main crate's dependencies, so a dependency added there must be added here too).
if ! cargo metadata --locked --format-version 1 >/dev/null; then
  echo "fuzz-replay: fuzz/Cargo.lock is out of date; update it with" \
    "(cd fuzz && cargo metadata --format-version 1 >/dev/null) and commit it" >&2
  exit 1
fi

mapfile -t all < <(cargo fuzz list)
if [[ ${#all[@]} -eq 0 ]]; then
  echo "fuzz-replay: cargo fuzz list found no target" >&2
  exit 1
fi
for dir in seeds/*/ regressions/*/; do
  [[ -d "$dir" ]] || continue
  name="$(basename "$dir")"
  if ! printf '%s\n' "${all[@]}" | grep -qx -- "$name"; then
    echo "fuzz-replay: fuzz/$dir names no fuzz target; its inputs would never run" >&2
    exit 1
  fi
done
if [[ $# -gt 0 ]]; then targets=("$@"); else targets=("${all[@]}"); fi

echo "== building every target (cargo fuzz build --sanitizer none)"
if ! cargo fuzz build --sanitizer none 2>&1 | { grep -v '^ *Compiling ' || true; }; then
  echo "fuzz-replay: cargo fuzz build failed" >&2
  exit 1
fi
echo "== replaying fuzz/seeds and fuzz/regressions"

failed=()
for t in "${targets[@]}"; do
  mapfile -t seeds < <(find "seeds/$t" -type f 2>/dev/null | sort)
  mapfile -t regressions < <(find "regressions/$t" -type f 2>/dev/null | sort)
  inputs=("${seeds[@]}" "${regressions[@]}")
  if [[ ${#inputs[@]} -eq 0 ]]; then
    echo "   $t: FAILS: no input in fuzz/seeds/$t or fuzz/regressions/$t"
    failed+=("$t")
    continue
  fi
  log="$(mktemp)"
  # Files, not folders: libFuzzer runs each named file once (a folder would start fuzzing).
  if cargo fuzz run --sanitizer none "$t" "${inputs[@]}" -- \
    -timeout="$timeout" -rss_limit_mb=2048 >"$log" 2>&1; then
    ran="$(grep -c '^Executed ' "$log" || true)"
    if [[ "$ran" -ne ${#inputs[@]} ]]; then
      echo "   $t: FAILS: libFuzzer executed $ran of ${#inputs[@]} inputs"
      failed+=("$t")
    else
      echo "   $t: ${#seeds[@]} seeds, ${#regressions[@]} regressions: ok"
    fi
  else
    echo "   $t: FAILS (${#seeds[@]} seeds, ${#regressions[@]} regressions)"
    grep -E '^Running: |panicked at|^ERROR: libFuzzer|^SUMMARY: |deadly signal|timeout after' "$log" |
      tail -n 6 | sed 's/^/      /' || true
    failed+=("$t")
  fi
  rm -f "$log"
done

if [[ ${#failed[@]} -gt 0 ]]; then
  echo "fuzz-replay: failing target(s): ${failed[*]}" >&2
  exit 1
fi
echo "fuzz-replay: every seed and regression input ran clean in ${#targets[@]} target(s)"
