#!/usr/bin/env bash
# The AOFP paper's ordering (Figure 3: Oracle >= AOFP > heuristics > random) tested on every bundled
# CNN fixture with the library's defaults: each pruned to -30% FLOPs (uniform, default rounding, no
# fine-tuning) by random, L1, Taylor, Oracle (re-scored, the default) and AOFP; top-1 on the 2,000
# bundled test images, and on how many models the ordering, and each of its comparisons, holds.
# Calibration: the 1,000 bundled training images (Oracle: the first 256). About an hour on 2 shared cores.
#
#   bench/ordering.sh [MODEL...] [--flops F (default 0.3)] [--threads T]   (a --flops given wins: the first one counts)
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
exec "$root/bench/criteria.sh" "$@" --flops 0.3 --criteria random,l1,taylor,oracle,aofp --cost 0
