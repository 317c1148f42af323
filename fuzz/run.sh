#!/usr/bin/env bash
# Fuzzes onnx-prune for a set time per target (Jazzer, coverage-guided), one target after another:
#   fuzz/run.sh [SECONDS_PER_TARGET] [TARGET...]
# SECONDS_PER_TARGET: default 300. TARGETS: Class#method of fuzz/src/test/java/dev/onnxprune/fuzz;
# default all three (ModelReaderFuzzTest#readsAnyBytes, ModelReaderFuzzTest#readsMutatedModels,
# PruneFuzzTest#prunesMutatedModels).
# Inputs that found new coverage go to fuzz/.cifuzz-corpus/<class>/<method>/ (git-ignored; kept between
# runs, so a run continues where the last one stopped). An input that fails a target is written to
# fuzz/src/test/resources/dev/onnxprune/fuzz/<Class>Inputs/<method>/ and stops that target (after
# JAZZER_KEEP_GOING distinct findings, default 1): commit it with the fix, and `mvn verify` replays it
# from then on. Each target's log: fuzz/target/fuzz-<method>.log,
# ending with libFuzzer's "Done N runs in T second(s)"; a summary line per target is printed at the end.
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
seconds="${1:-300}"
shift || true
targets=("$@")
if [ ${#targets[@]} -eq 0 ]; then
  targets=(ModelReaderFuzzTest#readsAnyBytes ModelReaderFuzzTest#readsMutatedModels PruneFuzzTest#prunesMutatedModels)
fi
cd "$root"
mkdir -p fuzz/target
summary=()
status=0
for t in "${targets[@]}"; do
  method="${t#*#}"
  log="fuzz/target/fuzz-$method.log"
  echo "fuzzing $t for ${seconds}s (log: $log)" >&2
  inputs="fuzz/src/test/resources/dev/onnxprune/fuzz/${t%%#*}Inputs/$method"
  mkdir -p "$inputs"
  before=$(ls "$inputs" | sort)
  start=$(date +%s)
  # instrument our code and protobuf's parser (coverage through the wire format; junit-platform.properties
  # turns the hooks off for regression runs); the other modules' tests are not run (-Dtest names one fuzz test)
  if JAZZER_FUZZ=1 JAZZER_MAX_DURATION="${seconds}s" JAZZER_KEEP_GOING="${JAZZER_KEEP_GOING:-1}" JAZZER_INSTRUMENT='dev.onnxprune.**,com.google.protobuf.**' \
      mvn -B -o test -pl fuzz -am -Dtest="$t" -Dsurefire.failIfNoSpecifiedTests=false \
      "-Dsurefire.heap=-Xmx4g -Djazzer.hooks=true" -Donnxprune.zoo=/nonexistent >"$log" 2>&1; then
    result="passed"
  else
    result="FAILED (see $log)"
    status=1
  fi
  found=$(comm -13 <(echo "$before") <(ls "$inputs" | sort) | grep -c . || true)
  if [ "$found" -gt 0 ]; then
    result="$result; $found new finding(s) in $inputs"
    status=1
  fi
  took=$(( $(date +%s) - start ))
  corpus="fuzz/.cifuzz-corpus/dev.onnxprune.fuzz.${t%%#*}/$method"
  files=$(find "$corpus" -type f 2>/dev/null | wc -l)
  done_line=$(grep -a -E "^Done [0-9]+ runs in [0-9]+ second" "$log" | tail -1 || true)
  cov=$(grep -a -E "^#[0-9]+" "$log" | tail -1 | grep -o -E "cov: [0-9]+ ft: [0-9]+ corp: [0-9]+/[0-9]+[a-zA-Z]*" || true)
  summary+=("$t: ${done_line:-no libFuzzer summary} ($took s wall); ${cov:-}; corpus files $files; $result")
done
printf '%s\n' "${summary[@]}"
exit $status
