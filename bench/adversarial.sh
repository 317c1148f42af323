#!/usr/bin/env bash
# Adversarial structured pruning (Cai et al. 2019) of the resnet20 fixture to a FLOPs target on
# Fashion-MNIST: trajectory as it goes, then achieved FLOPs, top-1 right after pruning (2000-image
# fixture test subset, which the method's recovery check also uses, and the full 10k test set),
# kept channels per group, passes, reversals, wall time. Needs the full data set (Debian:
# apt-get install dataset-fashion-mnist).
#
#   bench/adversarial.sh [--train 10000] [--flops 0.5] [--epsilon 0.1] [--tau 0.9] [--T 10]
#       [--eta-adv 0.01] [--pgd-steps 10] [--eta-reg 1e-4] [--decay-interval 5]
#       [--iteration-batches 10] [--max-steps 20000] [--tolerance 0.01] [--reference START|LAYER]
#       [--two-sided] [--validation-limit 2000] [--batch 64] [--threads 2] [--data DIR]
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"
mvn -q ${BENCH_MAVEN_ARGS:-} -pl bench -am package -DskipTests
cp="bench/target/classes:$(cat bench/target/bench.classpath)"
java -Xmx4g -cp "$cp" dev.onnxprune.bench.AdversarialRun "$@"
