#!/usr/bin/env bash
# Training-step throughput of the resnet20 fixture: our training artifact in ONNX Runtime CPU
# (TrainThroughputBench) against Debian's PyTorch CPU (bench/train_throughput.py), same model,
# batch, optimizer (SGD momentum 0.9, wd 5e-4) and thread count, alternating runs so that load
# from other jobs hits both sides alike; prints each run, the medians and the ratio.
#
#   bench/train-throughput.sh [--batch 64] [--threads 2] [--steps 40] [--pairs 3] [--spin] [--teacher] [--profile]
#
# --teacher: both sides also run a teacher (the same model) on every step and distil from it (KL, T 4,
# weight 0.5), the cost of an uncached epoch of `--distill kl`.
#
# --spin lets ONNX Runtime's intra-op threads spin between ops (-Donnxprune.spin=1, ONNX Runtime's
# own default), as PyTorch's OpenMP threads do; without it the training step's threads sleep
# between ops (the library's default, robust on shared cores). Compare on idle cores only.
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"
batch=64 threads=2 steps=40 pairs=3 profile="" spin=0 teacher=""
while [[ $# -gt 0 ]]; do
  case "$1" in
    --batch) batch="$2"; shift 2 ;;
    --threads) threads="$2"; shift 2 ;;
    --steps) steps="$2"; shift 2 ;;
    --pairs) pairs="$2"; shift 2 ;;
    --profile) profile="--profile"; shift ;;
    --spin) spin=1; shift ;;
    --teacher) teacher="--teacher"; shift ;;
    *) echo "unknown option $1" >&2; exit 2 ;;
  esac
done
mvn -q ${BENCH_MAVEN_ARGS:-} -pl bench -am package -DskipTests
cp="bench/target/classes:$(cat bench/target/bench.classpath)"
py=/usr/bin/python3
ort=() torch=()
for ((i = 0; i < pairs; i++)); do
  a=$(java -Donnxprune.spin="$spin" -cp "$cp" dev.onnxprune.bench.TrainThroughputBench --batch "$batch" --threads "$threads" --steps "$steps" $teacher \
    2>/dev/null | grep '^RESULT')
  b=$("$py" bench/train_throughput.py --batch "$batch" --threads "$threads" --steps "$steps" $teacher | grep '^RESULT')
  echo "$a"
  echo "$b"
  # images/s from the median step time: robust to steps slowed by other jobs on shared cores
  ort+=("$(sed -E 's/.* median_ms=([0-9.]+).*/\1/' <<< "$a" | awk -v n="$batch" '{printf "%.1f", n * 1000 / $1}')")
  torch+=("$(sed -E 's/.* median_ms=([0-9.]+).*/\1/' <<< "$b" | awk -v n="$batch" '{printf "%.1f", n * 1000 / $1}')")
done
median() { printf '%s\n' "$@" | sort -g | awk '{a[NR]=$1} END {print (NR % 2) ? a[(NR+1)/2] : (a[NR/2]+a[NR/2+1])/2}'; }
mo=$(median "${ort[@]}")
mt=$(median "${torch[@]}")
printf 'images/s (batch / median step time), median of %s runs: ORT artifact %s, PyTorch %s; ORT/PyTorch %s (batch %s, %s threads, ORT spinning %s, teacher %s)\n' \
  "$pairs" "$mo" "$mt" "$(awk -v a="$mo" -v b="$mt" 'BEGIN {printf "%.2f", a / b}')" "$batch" "$threads" \
  "$([[ $spin == 1 ]] && echo on || echo off)" "$([[ -n $teacher ]] && echo yes || echo no)"
if [[ -n "$profile" ]]; then
  java -Dbench.spin="$spin" -cp "$cp" dev.onnxprune.bench.TrainThroughputBench --batch "$batch" --threads "$threads" --steps 20 \
    --warmup 3 --profile 2>/dev/null | grep -v '^RESULT'
fi
