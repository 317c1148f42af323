#!/usr/bin/env bash
# Recovery after pruning, measured with the CLI on Fashion-MNIST (issue 14). One section per
# argument (default: all), each a Markdown table on stdout; the runs' logs and reports go to
# .bench-out/recovery/. Needs the full data set (Debian: dataset-fashion-mnist).
#
#   bench/recovery.sh [folded] [distill] [embedding] [sparsity] [steps] [agp90] [refit] [refit-ft]
#
#   folded     the BN-folded ResNet-20 fixture, L1 to half its FLOPs, 2 epochs with the defaults on
#              FOLDED_LIMIT training images (default 60000, the issue's case; about 70 min per mode
#              on 2 idle cores): trained as it is (--insert-bn off) and through inserted BatchNorm
#              (the default); FOLDED_MODES="auto" runs one of them
#   distill    resnet20 and vgg_bn, L1 to half the FLOPs, 1 epoch on DISTILL_LIMIT images (default
#              10000): plain fine-tuning, KL distillation with labels, KL distillation without
#              labels (same budget)
#   embedding  resnet20 cut at its pooled features (not a classifier), L1 to half the FLOPs, 1 epoch
#              on DISTILL_LIMIT unlabelled images distilled by MSE: output error against the original
#   sparsity   mask --sparsity 0.8, then finetune 1 epoch on DISTILL_LIMIT images: zero weights, top-1
#   steps      resnet20, L1 to half the FLOPs on DISTILL_LIMIT images: one shot then 3 epochs, against
#              3 AGP steps of 1 epoch each (same budget)
#   agp90      resnet20, unstructured magnitude masking to 90% (per layer), AGP_STEPS (default 4) epochs
#              on AGP_LIMIT images (default 5000) in all: mask 0.9 once then finetune AGP_STEPS epochs,
#              against AGP_STEPS steps of Zhu & Gupta's cubic schedule s_t = 0.9 (1 - (1 - t/n)^3),
#              each mask then finetune 1 epoch (zeros kept between steps)
#   refit-ft   resnet20 and vgg_bn, L1 to half the FLOPs, --refit then 1 epoch on DISTILL_LIMIT images
#              (compare with distill's plain fine-tuning at the same budget)
#   refit      resnet20 and vgg_bn, L1 and ThiNet to half the FLOPs, no training: top-1 right after
#              pruning and after the least-squares refit (--refit, REFIT_SAMPLES unlabelled training
#              images, default 1024; ThiNet scores on the first 1024), and the refit's wall time
#
# JAR=path runs that jar instead of building cli/target/onnx-prune.jar. Prunes keep exact widths (--round 1),
# as measured in the README.
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"
data=${DATA:-/usr/share/datasets/fashion-mnist}
fx=testmodels/src/main/resources/onnxprune/testmodels
out=.bench-out/recovery
folded_limit=${FOLDED_LIMIT:-60000}
distill_limit=${DISTILL_LIMIT:-10000}
refit_samples=${REFIT_SAMPLES:-1024}
agp_steps=${AGP_STEPS:-4}
agp_limit=${AGP_LIMIT:-5000}
mkdir -p "$out"
if [[ -z "${JAR:-}" ]]; then
  mvn -q -o -B -DskipTests -pl cli -am package
  JAR=cli/target/onnx-prune.jar
fi
train=(--images "$data/train-images-idx3-ubyte.gz" --labels "$data/train-labels-idx1-ubyte.gz" --mean 0.2860 --std 0.3530)
unlabelled=(--images "$data/train-images-idx3-ubyte.gz" --mean 0.2860 --std 0.3530)
val=(--val-images "$data/t10k-images-idx3-ubyte.gz" --val-labels "$data/t10k-labels-idx1-ubyte.gz")
cli() { java -Xmx3g -jar "$JAR" "$@"; }

# stage values of a report: the original, pruned (the last step's) and fine-tuned stages' top-1 in percent
# (or relative output error), the seconds of all phases, the zero weights of each
stages() {
  /usr/bin/python3 - "$1" <<'PY'
import json, sys
r = json.load(open(sys.argv[1]))
def cell(s):
    if s.get("accuracy"): return "%.2f" % (100 * s["accuracy"]["top1"])
    if s.get("outputError"): return "%.4f" % s["outputError"]["relative"]
    return "-"
st = [s for s in r["stages"] if s["name"] in ("original", "pruned", "fine-tuned")]
print(" | ".join(cell(s) for s in st), "|", "%.0f" % sum(r["phaseSeconds"].values()), "|",
      " / ".join("%.2f" % (100 * s["weightSparsity"]) for s in st))
PY
}

run() { # name, args...
  local name=$1; shift
  echo "  $name: onnx-prune $*" >&2
  cli "$@" --report "$out/$name.json" >"$out/$name.log" 2>&1
}

sections=("$@")
[[ ${#sections[@]} -eq 0 ]] && sections=(folded distill embedding sparsity steps)
for s in "${sections[@]}"; do
  case $s in
    folded)
      echo "| resnet20_folded, L1 --flops 0.5, 2 epochs on $folded_limit images | original | pruned | fine-tuned | seconds | zero weights |"
      echo "|---|---:|---:|---:|---:|---|"
      for mode in ${FOLDED_MODES:-off auto}; do
        run "folded-$mode" prune "$fx/resnet20_folded.onnx" -o "$out/folded-$mode.onnx" --criterion l1 --flops 0.5 --round 1 \
          --epochs 2 --limit "$folded_limit" --insert-bn "$mode" "${train[@]}" "${val[@]}"
        echo "| --insert-bn $mode | $(stages "$out/folded-$mode.json") |"
      done ;;
    distill)
      echo "| model, L1 --flops 0.5, 1 epoch on $distill_limit images | original | pruned | fine-tuned | seconds | zero weights |"
      echo "|---|---:|---:|---:|---:|---|"
      for m in resnet20 vgg_bn; do
        common=(prune "$fx/$m.onnx" --criterion l1 --flops 0.5 --round 1 --epochs 1 --limit "$distill_limit" "${val[@]}")
        run "$m-plain" "${common[@]}" -o "$out/$m-plain.onnx" "${train[@]}"
        echo "| $m, plain fine-tuning | $(stages "$out/$m-plain.json") |"
        run "$m-kl" "${common[@]}" -o "$out/$m-kl.onnx" "${train[@]}" --distill kl --temperature 4 --distill-weight 0.5
        echo "| $m, --distill kl (T 4, weight 0.5), labels | $(stages "$out/$m-kl.json") |"
        run "$m-kl-nolabels" "${common[@]}" -o "$out/$m-kl-nolabels.onnx" "${unlabelled[@]}"
        echo "| $m, no labels (KL, T 4) | $(stages "$out/$m-kl-nolabels.json") |"
      done ;;
    embedding)
      /usr/bin/python3 - "$fx/resnet20.onnx" "$out/resnet20_embedding.onnx" <<'PY'
import sys, onnx
m = onnx.load(sys.argv[1])
g = m.graph
pool = [n for n in g.node if n.op_type == "GlobalAveragePool"][0].output[0]
keep = onnx.utils.Extractor(m).extract_model([i.name for i in g.input], [pool])
onnx.save(keep, sys.argv[2])
PY
      echo "| resnet20 features [N,64,1,1], L1 --flops 0.5, 1 epoch on $distill_limit unlabelled | original | pruned | fine-tuned | seconds | zero weights |"
      echo "|---|---:|---:|---:|---:|---|"
      run embedding prune "$out/resnet20_embedding.onnx" -o "$out/embedding-pruned.onnx" --criterion l1 --flops 0.5 --round 1 \
        --epochs 1 --limit "$distill_limit" "${unlabelled[@]}" --val-images "$data/t10k-images-idx3-ubyte.gz"
      echo "| output error (relative L2) against the original, distilled by MSE | $(stages "$out/embedding.json") |" ;;
    sparsity)
      cli mask "$fx/resnet20.onnx" -o "$out/sparse80.onnx" --sparsity 0.8 >"$out/mask.log" 2>&1
      echo "| resnet20, mask --sparsity 0.8, finetune 1 epoch on $distill_limit images | original | fine-tuned | seconds | zero weights |"
      echo "|---|---:|---:|---:|---|"
      run sparsity finetune "$out/sparse80.onnx" -o "$out/sparse80-tuned.onnx" --epochs 1 --limit "$distill_limit" "${train[@]}" "${val[@]}"
      echo "| default (--keep-sparsity auto) | $(stages "$out/sparsity.json") |" ;;
    steps)
      echo "| resnet20, L1 --flops 0.5, 3 epochs in all on $distill_limit images | original | pruned (last step) | fine-tuned | seconds | zero weights |"
      echo "|---|---:|---:|---:|---:|---|"
      common=(prune "$fx/resnet20.onnx" --criterion l1 --flops 0.5 --round 1 --limit "$distill_limit" "${train[@]}" "${val[@]}")
      run oneshot "${common[@]}" -o "$out/oneshot.onnx" --epochs 3
      echo "| one shot, then 3 epochs | $(stages "$out/oneshot.json") |"
      run agp "${common[@]}" -o "$out/agp.onnx" --steps 3 --step-schedule agp --epochs 1
      echo "| --steps 3 --step-schedule agp, 1 epoch after each | $(stages "$out/agp.json") |" ;;
    agp90)
      tuned() { # report -> "top-1 | zero weights" of its fine-tuned stage
        /usr/bin/python3 -c 'import json,sys; s=[s for s in json.load(open(sys.argv[1]))["stages"] if s["name"]=="fine-tuned"][0]; print("%.2f | %.2f" % (100*s["accuracy"]["top1"], 100*s["weightSparsity"]))' "$1"
      }
      echo "| resnet20 to 90% zero weights, $agp_steps epochs in all on $agp_limit images | top-1 | zero weights |"
      echo "|---|---:|---:|"
      cli mask "$fx/resnet20.onnx" -o "$out/agp90-oneshot-mask.onnx" --sparsity 0.9 >"$out/agp90-oneshot-mask.log" 2>&1
      run agp90-oneshot finetune "$out/agp90-oneshot-mask.onnx" -o "$out/agp90-oneshot.onnx" --epochs "$agp_steps" \
        --limit "$agp_limit" "${train[@]}" "${val[@]}"
      echo "| one shot: mask 0.9, then $agp_steps epochs | $(tuned "$out/agp90-oneshot.json") |"
      prev="$fx/resnet20.onnx"
      for t in $(seq 1 "$agp_steps"); do
        st=$(/usr/bin/python3 -c "print(round(0.9 * (1 - (1 - $t / $agp_steps) ** 3), 4))")
        cli mask "$prev" -o "$out/agp90-mask$t.onnx" --sparsity "$st" >"$out/agp90-mask$t.log" 2>&1
        run "agp90-step$t" finetune "$out/agp90-mask$t.onnx" -o "$out/agp90-step$t.onnx" --epochs 1 --limit "$agp_limit" \
          "${train[@]}" "${val[@]}"
        echo "| AGP step $t/$agp_steps: mask $st, then 1 epoch | $(tuned "$out/agp90-step$t.json") |"
        prev="$out/agp90-step$t.onnx"
      done ;;
    refit-ft)
      echo "| model, L1 --flops 0.5, --refit then 1 epoch on $distill_limit images | original | pruned | fine-tuned | seconds | zero weights |"
      echo "|---|---:|---:|---:|---:|---|"
      for m in resnet20 vgg_bn; do
        run "$m-refit-ft" prune "$fx/$m.onnx" -o "$out/$m-refit-ft.onnx" --criterion l1 --flops 0.5 --round 1 --refit \
          --epochs 1 --limit "$distill_limit" "${train[@]}" "${val[@]}"
        echo "| $m | $(stages "$out/$m-refit-ft.json") |"
      done ;;
    refit)
      echo "| model, criterion --flops 0.5, no training | original | pruned | refitted | refit seconds | layers refit |"
      echo "|---|---:|---:|---:|---:|---|"
      for m in resnet20 vgg_bn; do
        for c in l1 thinet; do
          run "refit-$m-$c" prune "$fx/$m.onnx" -o "$out/refit-$m-$c.onnx" --criterion "$c" --flops 0.5 --round 1 --calib-limit 1024 \
            --refit --refit-samples "$refit_samples" "${unlabelled[@]}" "${val[@]}"
          /usr/bin/python3 - "$out/refit-$m-$c.json" "$out/refit-$m-$c.log" "$m, $c" <<'PY'
import json, re, sys
r = json.load(open(sys.argv[1]))
top = {s["name"]: "%.2f" % (100 * s["accuracy"]["top1"]) for s in r["stages"]}
line = re.search(r"refitting +[\d.]+ s +(.*)", open(sys.argv[2]).read())
print("| %s | %s | %s | %s | %.1f | %s |" % (sys.argv[3], top["original"], top["pruned"], top["refitted"],
      r["phaseSeconds"]["refitting"], line.group(1) if line else "-"))
PY
        done
      done ;;
    *) echo "unknown section $s" >&2; exit 2 ;;
  esac
  echo
done
