#!/usr/bin/env bash
# The README's speed table: every torchvision model of the zoo pruned with L1 to --flops (default 0.5)
# with the library's defaults, then ONNX Runtime CPU latency of original and pruned, alternating in one
# process, at batch 1 and 32. See bench/README.md.
#
#   bench/speed-table.sh [--zoo DIR] [--models a,b,...] [--flops F] [--batches 1,32] [--pairs 4,1] [--rounds 5]
#                        [--threads 2] [--round auto|N] [--global] [--out FILE]
set -euo pipefail
zoo=testmodels/zoo
args=("$@")
for ((i = 0; i + 1 < ${#args[@]}; i++)); do
  [[ "${args[i]}" == --zoo ]] && zoo="${args[i + 1]}"
done
source "$(dirname "$0")/common.sh" "$zoo/resnet50.onnx"
java -Xmx8g -cp "$cp" dev.onnxprune.bench.SpeedTableBench "$@"
