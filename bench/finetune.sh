#!/usr/bin/env bash
# Recovery after pruning on Fashion-MNIST: the resnet20 fixture pruned to half its FLOPs (L1),
# then no recovery, BN recalibration, fine-tuning, and the Scratch-B baseline, beside the
# unpruned model: top-1 on the 10k test images and wall times (a Markdown table on stdout,
# progress on stderr). Needs the full data set (Debian: apt-get install dataset-fashion-mnist).
# About 30-40 minutes on 2 cores.
#
#   bench/finetune.sh [--data DIR] [--train-limit N] [--finetune-epochs 2] [--original-epochs 2]
#                     [--threads 2] [--bn-samples 4096] [--augment] [--skip-scratch]
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"
mvn -q ${BENCH_MAVEN_ARGS:-} -pl bench -am package -DskipTests
cp="bench/target/classes:$(cat bench/target/bench.classpath)"
java -Xmx3g -cp "$cp" dev.onnxprune.bench.FinetuneBench "$@"
