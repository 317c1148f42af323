#!/usr/bin/env python3
"""Cross-check the exported models with ONNX Runtime (needs only numpy + onnxruntime).

    python3 testmodels/verify_ort.py            # fixtures: accuracy on the 2,000-image IDX subset
    python3 testmodels/verify_ort.py --zoo      # zoo: ORT logits vs PyTorch's (<name>.ref.npz)

Fixtures: each model's ORT accuracy on fmnist-test-*.gz must equal manifest.json's
test_subset_accuracy, and <name>.onnx / <name>_folded.onnx must agree.
"""
import gzip
import json
import os
import struct
import sys

import numpy as np
import onnxruntime as ort

HERE = os.path.dirname(os.path.abspath(__file__))
RES = os.path.join(HERE, "src", "main", "resources", "onnxprune", "testmodels")
ZOO = os.path.join(HERE, "zoo")


def read_idx(path):
    with gzip.open(path, "rb") as f:
        raw = f.read()
    _, _, ndim = struct.unpack(">HBB", raw[:4])
    dims = struct.unpack(">" + "I" * ndim, raw[4:4 + 4 * ndim])
    return np.frombuffer(raw, dtype=np.uint8, offset=4 + 4 * ndim).reshape(dims)


def session(path):
    so = ort.SessionOptions()
    so.intra_op_num_threads = 2
    return ort.InferenceSession(path, so, providers=["CPUExecutionProvider"])


def fixtures():
    man = json.load(open(os.path.join(RES, "manifest.json")))
    x = read_idx(os.path.join(RES, man["data"]["test_images"])).astype(np.float32)
    y = read_idx(os.path.join(RES, man["data"]["test_labels"])).astype(np.int64)
    x = ((x / 255.0 - man["mean"]) / man["std"]).astype(np.float32)[:, None]
    bad, logits = 0, {}
    for e in man["models"]:
        s = session(os.path.join(RES, e["file"]))
        out = np.concatenate([s.run(None, {"input": x[i:i + 500]})[0] for i in range(0, len(x), 500)])
        logits[e["file"]] = out
        acc = float((out.argmax(1) == y).mean())
        ok = abs(acc - e["test_subset_accuracy"]) <= 1e-4
        msg = ""
        if e["variant"] == "folded":
            other = logits.get(e["name"] + ".onnx")
            if other is not None:
                diff = float(np.abs(other - out).max())
                flips = int((other.argmax(1) != out.argmax(1)).sum())
                msg = "  max|bn-folded| %.2e, %d argmax flips" % (diff, flips)
                ok = ok and diff < 1e-3
        bad += not ok
        print("%-24s ORT acc %.4f  manifest %.4f  %s%s" % (e["file"], acc, e["test_subset_accuracy"],
                                                           "ok" if ok else "MISMATCH", msg))
    return bad


def zoo():
    man = json.load(open(os.path.join(ZOO, "manifest.json")))
    bad = 0
    for e in man["models"]:
        ref = np.load(os.path.join(ZOO, e["reference"]))
        got = session(os.path.join(ZOO, e["file"])).run(None, {"input": ref["input"]})[0]
        want = ref["logits"]
        rel = float(np.abs(got - want).max() / max(np.abs(want).max(), 1e-30))
        ok = rel < 1e-3 and got.shape == want.shape
        bad += not ok
        print("%-20s max rel err %.2e  %s" % (e["name"], rel, "ok" if ok else "MISMATCH"))
    return bad


if __name__ == "__main__":
    n = zoo() if "--zoo" in sys.argv[1:] else fixtures()
    print("%d mismatches" % n)
    sys.exit(1 if n else 0)
