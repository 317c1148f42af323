#!/usr/bin/env python3
"""Export a randomly initialised torchvision detector to testmodels/zoo/ (git-ignored).

    /usr/bin/python3 testmodels/export_detection.py          # an existing file is skipped

fasterrcnn_mobilenet_v3_large_320_fpn (torchvision 0.14, weights=None, weights_backbone=None),
opset 13, constant folding on (BatchNormalization folded into the convolutions). Its graph
resizes at run time: the transform scales the image by a factor computed from its size, and the
FPN upsamples each level to the size of the next, so most activation shapes are unknown to
static inference. Input "images": float32 [3, height, width] (one image, dynamic height and
width); outputs "boxes" [n, 4], "labels" int64 [n], "scores" [n] (n depends on the image).

Random weights are made usable: the backbone's BatchNorm statistics are re-estimated on random
images, and the objectness and class-score layers get larger weights, so that scores spread out
instead of crowding around one value (near-ties would let float rounding reorder the top-k and
NMS selections of two models that compute the same thing to 1e-7). Next to the model,
detection.json lists it (testmodels/zoo/manifest.json is the classifier list of export_zoo.py).
"""
import json
import os
import sys
import time

import torch
import torchvision

HERE = os.path.dirname(os.path.abspath(__file__))
OUT = os.path.join(HERE, "zoo")
NAME = "fasterrcnn_mobilenet_v3_large_320_fpn"
OPSET = 13
SEED = 1234


@torch.no_grad()
def recalibrate_backbone_bn(model, gen):
    bns = [m for m in model.backbone.modules() if isinstance(m, torch.nn.modules.batchnorm._BatchNorm)]
    for bn in bns:
        bn.reset_running_stats()
        bn.momentum = None
        bn.train()
    for _ in range(4):
        model.backbone(torch.randn(4, 3, 320, 320, generator=gen))
    model.eval()
    return len(bns)


@torch.no_grad()
def spread_scores(model, gen):
    cls = model.rpn.head.cls_logits
    cls.weight.normal_(0, 0.5, generator=gen)
    score = model.roi_heads.box_predictor.cls_score
    score.weight.normal_(0, 0.5, generator=gen)


def main():
    import onnx
    torch.set_num_threads(int(os.environ.get("ZOO_THREADS", "2")))
    os.makedirs(OUT, exist_ok=True)
    path = os.path.join(OUT, NAME + ".onnx")
    if os.path.exists(path):
        print("%s exists, skipped" % path)
        return
    t0 = time.time()
    torch.manual_seed(SEED)
    gen = torch.Generator().manual_seed(SEED)
    model = getattr(torchvision.models.detection, NAME)(weights=None, weights_backbone=None)
    model.eval()
    bns = recalibrate_backbone_bn(model, gen)
    spread_scores(model, gen)
    x = torch.rand(3, 320, 320, generator=gen)
    with torch.no_grad():
        ref = model([x])[0]
    torch.onnx.export(model, ([x],), path, opset_version=OPSET, input_names=["images"],
                      output_names=["boxes", "labels", "scores"],
                      dynamic_axes={"images": {1: "height", 2: "width"}, "boxes": {0: "n"}, "labels": {0: "n"},
                                    "scores": {0: "n"}})
    m = onnx.load(path)
    onnx.checker.check_model(m)
    ops = {}
    for n in m.graph.node:
        ops[n.op_type] = ops.get(n.op_type, 0) + 1
    entry = {"name": NAME, "file": NAME + ".onnx", "torchvision_model": NAME, "opset": OPSET,
             "inputs": {"images": "float32 [3, height, width]"}, "outputs": ["boxes", "labels", "scores"],
             "params": sum(p.numel() for p in model.parameters()), "bytes": os.path.getsize(path),
             "backbone_batchnorms_recalibrated": bns, "reference_detections": int(ref["boxes"].shape[0]),
             "op_counts": dict(sorted(ops.items())), "export_seconds": round(time.time() - t0, 1)}
    with open(os.path.join(OUT, "detection.json"), "w") as f:
        json.dump({"torch_version": torch.__version__, "torchvision_version": torchvision.__version__,
                   "models": [entry]}, f, indent=2)
        f.write("\n")
    print("%s  %d params  %.1f MB  %d detections on a random image  %.1fs"
          % (NAME, entry["params"], entry["bytes"] / 1e6, entry["reference_detections"], time.time() - t0))


if __name__ == "__main__":
    if len(sys.argv) > 1:
        sys.exit("usage: export_detection.py (no arguments)")
    main()
