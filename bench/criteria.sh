#!/usr/bin/env bash
# Criteria side by side on the six trained Fashion-MNIST fixtures: prune to --flops 0.5
# (uniform, no fine-tuning) with random, L1, BN, APoZ, mean, Oracle (default: re-scored; oracle-1
# one-shot), AOFP and Taylor; on how many models the AOFP paper's ordering holds; top-1 on the
# 2,000 test images, scoring wall times, plain forward throughput, and Oracle's cost per
# scored channel in forward-pass equivalents (naive, mask inputs, packed, packed + suffix).
#
#   bench/criteria.sh [MODEL...] [--calib N] [--oracle-calib N] [--cost-calib N] [--flops F]
#                     [--theta T] [--phi P] [--rescore R] [--threads T] [--criteria a,b,...|none] [--cost 0|1]
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
cd "$root"
mvn -q -o -pl bench -am package -DskipTests
cp="bench/target/classes:$(cat bench/target/bench.classpath)"
java -Xmx4g -cp "$cp" dev.onnxprune.bench.CriteriaBench "$@"
