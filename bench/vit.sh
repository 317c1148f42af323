#!/usr/bin/env bash
# The README's recovered-ViT table: vit_tiny (trained on Fashion-MNIST) pruned to half its FLOPs
# (heads, MLPs, hidden width; exact widths) by L1, Taylor, head importance and Wanda, fine-tuned by
# the pipeline for 1 epoch on a 10k subset of the training images; top-1 on the 10k test images
# before, right after pruning and after recovery; then ONNX Runtime CPU latency of original against
# pruned at batch 1 and 32. Needs the full data set (Debian: dataset-fashion-mnist).
#
#   bench/vit.sh [--criteria l1,taylor,heads,wanda,taylor:global,heads:global] [--flops 0.5] [--epochs 1]
#                [--train-limit 10000] [--lr 0.01]
#                [--calib 256] [--pairs 20] [--threads 2] [--data DIR]
set -euo pipefail
source "$(dirname "$0")/common.sh" testmodels/src/main/resources/onnxprune/testmodels/vit_tiny.onnx
java -Xmx3g -cp "$cp" dev.onnxprune.bench.VitRecoveryBench "$@"
