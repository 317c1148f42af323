#!/usr/bin/env bash
# Read+write throughput and peak heap of our serde against plain protobuf-java.
#
#   bench/run.sh [MODEL.onnx] [--warmup N] [--pairs N]
#
# MODEL defaults to testmodels/zoo/resnet50.onnx. See bench/README.md for what is measured.
set -euo pipefail
source "$(dirname "$0")/common.sh"
main=dev.onnxprune.bench.ReadWriteBench
out="$root/.bench-out"
mkdir -p "$out"

echo "== throughput: one JVM, warm-up then alternating A/B pairs"
java -cp "$cp" "$main" --mode compare --model "$model" --out "$out" "$@"

echo
echo "== memory: one fresh JVM per side, one cold read+write"
printf '%-6s %10s %14s %16s %8s\n' side "file MB" "peak heap MB" "heap/file size" "max RSS MB"
for side in ours plain; do
  if [[ -x /usr/bin/time ]]; then
    /usr/bin/time -v -o "$out/$side.time" java -cp "$cp" "$main" --mode "$side" --model "$model" --out "$out" \
      > "$out/$side.result"
    rss=$(awk -F': ' '/Maximum resident set size/ {printf "%.0f", $2 * 1024 / 1e6}' "$out/$side.time")
  else
    java -cp "$cp" "$main" --mode "$side" --model "$model" --out "$out" > "$out/$side.result"
    rss="n/a"
  fi
  line=$(grep '^RESULT' "$out/$side.result")
  field() { sed -E "s/.* $1=([^ ]+).*/\1/" <<< "$line"; }
  file_mb=$(field file_mb)
  heap=$(field peak_heap_mb)
  printf '%-6s %10s %14s %16s %8s\n' "$side" "$file_mb" "$heap" \
    "$(awk -v h="$heap" -v f="$file_mb" 'BEGIN {printf "%.2fx", h / f}')" "$rss"
done
rm -f "$out"/ours.onnx "$out"/plain.onnx
