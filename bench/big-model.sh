#!/usr/bin/env bash
# Peak memory of prune, with and without --verify (and with --speed-check on), on a model over
# 2 GiB (issue 16, point 9):
#   bench/big-model.sh [WORK_DIR] [JAVA_OPTS...]
# Writes bench/big_model.py's MLP (2.25 GiB of external data) into WORK_DIR (default
# /tmp/onnx-prune-big; needs ~5 GB of disk), runs cli/target/onnx-prune.jar (build it first:
# mvn -B -o -q -pl cli -am package -DskipTests) under /usr/bin/time -v, prints each run's peak RSS,
# its ratio to the model's size and the pruned model's SHA-256 (the same in every run), and removes
# WORK_DIR at the end.
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
work="${1:-/tmp/onnx-prune-big}"
shift || true
jar="$root/cli/target/onnx-prune.jar"
mkdir -p "$work"
trap 'rm -rf "$work"' EXIT
/usr/bin/python3 "$root/bench/big_model.py" "$work"
size=$(( $(stat -c %s "$work/big.onnx") + $(stat -c %s "$work/big.onnx.data") ))
run() {
  local name="$1"
  shift
  rm -rf "$work/out" && mkdir -p "$work/out"
  /usr/bin/time -v java "$@" -jar "$jar" prune "$work/big.onnx" -o "$work/out/pruned.onnx" --criterion l1 \
    --ratio 0.5 ${VERIFY:+--verify} ${SPEED:+--speed-check on} >"$work/$name.log" 2>&1 || { tail -20 "$work/$name.log"; return 1; }
  local rss wall
  rss=$(grep "Maximum resident set size" "$work/$name.log" | grep -o "[0-9]*$")
  wall=$(grep "Elapsed (wall clock)" "$work/$name.log" | grep -o "[0-9:.]*$")
  printf '%-40s peak RSS %6.2f GB = %.2f x the model (%.2f GB), %s wall; output %s; %s %s\n' "$name" \
    "$(echo "$rss/1000000" | bc -l)" "$(echo "$rss*1000/$size" | bc -l)" "$(echo "$size/1000000000" | bc -l)" "$wall" \
    "$(sha256sum "$work/out/pruned.onnx" | cut -c1-16)" "$(grep -E "^verify " "$work/$name.log" | head -1)" \
    "$(grep -E "^speed " "$work/$name.log" | head -1)"
}
VERIFY= SPEED= run "prune${*:+ $*}" "$@"
VERIFY=1 SPEED= run "prune --verify${*:+ $*}" "$@"
VERIFY=1 SPEED=1 run "prune --verify --speed-check on${*:+ $*}" "$@"
