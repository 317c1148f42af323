#!/usr/bin/env bash
# Unstructured masking without fine-tuning, magnitude against Wanda, on the Fashion-MNIST fixtures:
# per-layer 50% and 2:4, top-1 on the 10k test images (README "Wanda against magnitude").
#
#   bench/wanda.sh [--models vit_tiny,resnet20,vgg_bn] [--calib 256] [--threads 2] [--data DIR]
set -euo pipefail
source "$(dirname "$0")/common.sh" testmodels/src/main/resources/onnxprune/testmodels/vit_tiny.onnx
java -Xmx3g -cp "$cp" dev.onnxprune.bench.WandaMaskingBench "$@"
