#!/usr/bin/env bash
# The pruning methods side by side on equal terms: a bundled fixture (--model, default resnet20) pruned to --flops 0.5 by
# L1, Taylor, Oracle, AOFP (training-time), adversarial and PruneNet, each fine-tuned with the same
# budget, beside the Scratch-B baseline: top-1 on the 10k Fashion-MNIST test images before and
# after fine-tuning, wall times, and widths per group against uniform pruning (Markdown on
# stdout, progress on stderr, everything as JSON with --json). Needs the full data set (Debian:
# apt-get install dataset-fashion-mnist). About an hour on 2 shared cores.
#
#   bench/methods.sh [--model resnet20] [--data DIR] [--train-limit 10000] [--finetune-epochs 1] [--threads 2]
#                    [--method-steps N] [--theta T] [--phi P]
#                    [--methods l1,taylor,oracle,aofp,adversarial,prunenet,scratch] [--json FILE]
# Settings not given keep the library's defaults (--method-steps: each method's own budget).
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"
mvn -q ${BENCH_MAVEN_ARGS:-} -pl bench -am package -DskipTests
cp="bench/target/classes:$(cat bench/target/bench.classpath)"
java -Xmx6g -cp "$cp" dev.onnxprune.bench.MethodsBench "$@"
