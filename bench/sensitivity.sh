#!/usr/bin/env bash
# The README's allocation table: each bundled fixture pruned to --flops 0.5 by L1 with uniform, global and
# sensitivity allocation (Li et al. 2017, section 4.3; curves measured once per model on 500 training
# images), then BatchNorm recalibration and one epoch of fine-tuning on the 1,000 bundled training images;
# top-1 on the 2,000 bundled test images after each stage (about 15 minutes on 2 shared cores).
#
#   bench/sensitivity.sh [--models resnet20,vgg_bn,mobilenetv2] [--flops 0.5] [--epochs 1] [--sens-limit 500]
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
cd "$root"
mvn -q -o -pl bench -am package -DskipTests
cp="bench/target/classes:$(cat bench/target/bench.classpath)"
java -Xmx4g -cp "$cp" dev.onnxprune.bench.SensitivityBench "$@"
