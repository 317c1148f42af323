#!/usr/bin/env bash
# AOFP training-time multi-path pruning of the Fashion-MNIST ResNet-20 fixture to a FLOPs target:
# achieved FLOPs, top-1 on the fixture's 2,000 test images right after pruning (no fine-tuning),
# per-group widths, moves, steps and wall time on stdout; every trajectory point on stderr.
# Needs the full data set (Debian: apt-get install dataset-fashion-mnist) or --data DIR.
#
#   bench/aofp-train.sh [--data DIR] [--train-limit 10000] [--flops 0.5] [--theta 0.01] [--phi 20]
#                       [--lr 0.01] [--batch 64] [--max-steps 20000] [--validate-every 10]
#                       [--threads 2] [--no-restart] [--no-trim] [--seed 1] [--out pruned.onnx]
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"
mvn -q ${BENCH_MAVEN_ARGS:-} -pl bench -am package -DskipTests
cp="bench/target/classes:$(cat bench/target/bench.classpath)"
java -Xmx3g -cp "$cp" dev.onnxprune.bench.AofpTrainingRun "$@"
