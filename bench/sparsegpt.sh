#!/usr/bin/env bash
# SparseGPT against magnitude masking on Fashion-MNIST (issue 14), no training: resnet20 and vgg_bn
# masked to 50% (per layer) and 2:4, top-1 on the 10k test images; SparseGPT on SAMPLES unlabelled
# training images (default 1024). A Markdown table on stdout; models and logs in .bench-out/sparsegpt/.
#
#   bench/sparsegpt.sh
#
# JAR=path runs that jar instead of building cli/target/onnx-prune.jar.
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"
data=${DATA:-/usr/share/datasets/fashion-mnist}
fx=testmodels/src/main/resources/onnxprune/testmodels
out=.bench-out/sparsegpt
samples=${SAMPLES:-1024}
mkdir -p "$out"
if [[ -z "${JAR:-}" ]]; then
  mvn -q -o -B -DskipTests -pl cli -am package
  JAR=cli/target/onnx-prune.jar
fi
cli() { java -Xmx3g -jar "$JAR" "$@"; }
norm=(--mean 0.2860 --std 0.3530)
test=(--images "$data/t10k-images-idx3-ubyte.gz" --labels "$data/t10k-labels-idx1-ubyte.gz" "${norm[@]}")
top1() { cli eval "$1" "${test[@]}" --json | /usr/bin/python3 -c 'import json,sys; print("%.2f" % (100 * json.load(sys.stdin)["top1"]))'; }
zeros() { /usr/bin/python3 -c 'import json,sys; print("%.2f" % (100 * json.load(open(sys.argv[1]))["sparsity"]))' "$1"; }

echo "| model, mask (no training) | magnitude top-1 | SparseGPT top-1 | zeros (magnitude / SparseGPT) | SparseGPT seconds |"
echo "|---|---:|---:|---|---:|"
for m in resnet20 vgg_bn; do
  for mode in "--sparsity 0.5" "--nm 2:4"; do
    tag="$m-$(echo "$mode" | tr -d ' -:.')"
    # shellcheck disable=SC2086
    cli mask "$fx/$m.onnx" -o "$out/$tag-mag.onnx" $mode --json >"$out/$tag-mag.json"
    start=$(date +%s.%N)
    # shellcheck disable=SC2086
    cli mask "$fx/$m.onnx" -o "$out/$tag-sgpt.onnx" $mode --method sparsegpt --calib-limit "$samples" \
      --images "$data/train-images-idx3-ubyte.gz" "${norm[@]}" --json >"$out/$tag-sgpt.json"
    secs=$(/usr/bin/python3 -c "import time; print('%.0f' % (time.time() - $start))")
    echo "| $m, $mode | $(top1 "$out/$tag-mag.onnx") | $(top1 "$out/$tag-sgpt.onnx") | $(zeros "$out/$tag-mag.json") / $(zeros "$out/$tag-sgpt.json") | $secs |"
  done
done
echo
echo "original: resnet20 $(top1 "$fx/resnet20.onnx"), vgg_bn $(top1 "$fx/vgg_bn.onnx")"
