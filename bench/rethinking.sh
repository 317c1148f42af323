#!/usr/bin/env bash
# The Rethinking experiment (Liu et al. 2019, Tables 1-2 style) on the resnet20 fixture, Fashion-MNIST:
# for L1 (Li et al.), network slimming (bn: BN |gamma|) and ThiNet at half the FLOPs (exact widths), the
# pruned model fine-tuned for EPOCHS epochs against the same architecture re-initialised and trained
# for EPOCHS epochs (Scratch-E) and for EPOCHS x the FLOPs reduction (Scratch-B), on LIMIT training
# images (default 5000, drawn with seed 0; ThiNet scores on the first 1,024), top-1 on the 10k test
# images. A Markdown table on stdout.
#
#   EPOCHS=2 LIMIT=5000 bench/rethinking.sh
#
# JAR=path runs that jar instead of building cli/target/onnx-prune.jar.
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"
data=${DATA:-/usr/share/datasets/fashion-mnist}
fx=testmodels/src/main/resources/onnxprune/testmodels
out=.bench-out/rethinking
epochs=${EPOCHS:-2}
limit=${LIMIT:-5000}
mkdir -p "$out"
if [[ -z "${JAR:-}" ]]; then
  mvn -q -o -B -DskipTests -pl cli -am package
  JAR=cli/target/onnx-prune.jar
fi
cli() { java -Xmx3g -jar "$JAR" "$@"; }
train=(--images "$data/train-images-idx3-ubyte.gz" --labels "$data/train-labels-idx1-ubyte.gz" --mean 0.2860 --std 0.3530)
val=(--val-images "$data/t10k-images-idx3-ubyte.gz" --val-labels "$data/t10k-labels-idx1-ubyte.gz")
last() { # report -> top-1 of its last stage, and the epochs trained
  /usr/bin/python3 -c 'import json,sys; r=json.load(open(sys.argv[1])); print("%.2f (%d ep)" % (100*r["stages"][-1]["accuracy"]["top1"], len(r["fineTuning"])))' "$1"
}
echo "| resnet20 --flops 0.5, $limit images | pruned, no training | fine-tuned $epochs epochs | Scratch-E | Scratch-B |"
echo "|---|---:|---:|---:|---:|"
for c in l1 bn thinet; do
  cli prune "$fx/resnet20.onnx" -o "$out/$c.onnx" --criterion "$c" --flops 0.5 --round 1 --calib-limit 1024 "${train[@]}" "${val[@]}" \
    --report "$out/$c-prune.json" >"$out/$c-prune.log" 2>&1
  pruned=$(/usr/bin/python3 -c 'import json,sys; print("%.2f" % (100*json.load(open(sys.argv[1]))["stages"][-1]["accuracy"]["top1"]))' "$out/$c-prune.json")
  common=(finetune "$out/$c.onnx" --epochs "$epochs" --limit "$limit" "${train[@]}" "${val[@]}")
  cli "${common[@]}" -o "$out/$c-ft.onnx" --report "$out/$c-ft.json" >"$out/$c-ft.log" 2>&1
  cli "${common[@]}" -o "$out/$c-se.onnx" --scratch --report "$out/$c-se.json" >"$out/$c-se.log" 2>&1
  cli "${common[@]}" -o "$out/$c-sb.onnx" --scratch --original "$fx/resnet20.onnx" --report "$out/$c-sb.json" >"$out/$c-sb.log" 2>&1
  echo "| $c | $pruned | $(last "$out/$c-ft.json") | $(last "$out/$c-se.json") | $(last "$out/$c-sb.json") |"
done
