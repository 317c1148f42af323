#!/usr/bin/env python3
"""Export randomly initialised torchvision classifiers to testmodels/zoo/ (git-ignored).

    /usr/bin/python3 testmodels/export_zoo.py [names...]      # default: all; existing files are skipped

No pretrained weights (no network): each model is built with weights=None, its BatchNorm
running statistics are re-estimated on a few random batches (train mode, no_grad) so its
outputs are sanely scaled, and it is exported in eval mode with BatchNormalization nodes kept
(TrainingMode.PRESERVE, do_constant_folding=False). `resnet50_folded` is the default export
(constant folding, BN folded into Conv). Opset 13, input "input" (dynamic batch), output "logits".
Next to each model, <name>.ref.npz holds a 2-image input and PyTorch's logits for it
(see verify_ort.py). zoo/manifest.json lists name, file, input shape, params, sizes.
"""
import json
import os
import sys
import time

import numpy as np
import torch
import torchvision

HERE = os.path.dirname(os.path.abspath(__file__))
OUT = os.path.join(HERE, "zoo")
OPSET = 13
SEED = 1234
CALIB_BATCHES, CALIB_BATCH = 4, 8

# name -> (torchvision constructor, kwargs, input size, keep BN)
ZOO = {
    "resnet18": ("resnet18", {}, 224, True),
    "resnet50": ("resnet50", {}, 224, True),
    "resnet50_folded": ("resnet50", {}, 224, False),
    "resnext50_32x4d": ("resnext50_32x4d", {}, 224, True),
    "wide_resnet50_2": ("wide_resnet50_2", {}, 224, True),
    "densenet121": ("densenet121", {}, 224, True),
    "vgg11_bn": ("vgg11_bn", {}, 224, True),
    "vgg16": ("vgg16", {}, 224, True),
    "alexnet": ("alexnet", {}, 224, True),
    "mobilenet_v2": ("mobilenet_v2", {}, 224, True),
    "mobilenet_v3_small": ("mobilenet_v3_small", {}, 224, True),
    "efficientnet_b0": ("efficientnet_b0", {}, 224, True),
    "regnet_x_400mf": ("regnet_x_400mf", {}, 224, True),
    "regnet_y_400mf": ("regnet_y_400mf", {}, 224, True),
    "shufflenet_v2_x1_0": ("shufflenet_v2_x1_0", {}, 224, True),
    "squeezenet1_1": ("squeezenet1_1", {}, 224, True),
    "googlenet": ("googlenet", {"aux_logits": False, "init_weights": True}, 224, True),
    "inception_v3": ("inception_v3", {"aux_logits": False, "init_weights": True}, 299, True),
    "mnasnet0_5": ("mnasnet0_5", {}, 224, True),
    "convnext_tiny": ("convnext_tiny", {}, 224, True),
    "vit_b_16": ("vit_b_16", {}, 224, True),
    "swin_t": ("swin_t", {}, 224, True),
}


@torch.no_grad()
def recalibrate_bn(model, size, gen):
    """Re-estimate BN running stats (cumulative average) on random N(0,1) batches."""
    bns = [m for m in model.modules() if isinstance(m, torch.nn.modules.batchnorm._BatchNorm)]
    for bn in bns:
        bn.reset_running_stats()
        bn.momentum = None
    if bns:
        model.train()
        for _ in range(CALIB_BATCHES):
            model(torch.randn(CALIB_BATCH, 3, size, size, generator=gen))
    model.eval()
    return len(bns)


LAYER_SCALE = 0.5


@torch.no_grad()
def rescale_layer_scale(model):
    """ConvNeXt initialises its layer scale to 1e-6, so that at random init every residual branch is
    all but switched off and a pruned branch changes the output by nothing a test can see; trained
    models have scales near 0.1-1. Set them to LAYER_SCALE so pruning the branches is visible."""
    n = 0
    for m in model.modules():
        scale = getattr(m, "layer_scale", None)
        if isinstance(scale, torch.nn.Parameter):
            scale.fill_(LAYER_SCALE)
            n += 1
    return n


@torch.no_grad()
def reinit_zero_linears(model):
    """torchvision's ViT initialises its classification head to zeros, so that at random init its
    logits are all 0 and no pruning can change them. Draw such all-zero Linear weights from
    N(0, 0.02) instead so that the outputs depend on the network."""
    n = 0
    for m in model.modules():
        if isinstance(m, torch.nn.Linear) and not m.weight.any():
            m.weight.normal_(0, 0.02)
            n += 1
    return n


def export_one(name, manifest):
    import onnx
    ctor, kwargs, size, keep_bn = ZOO[name]
    path = os.path.join(OUT, name + ".onnx")
    if not hasattr(torchvision.models, ctor):
        raise RuntimeError("torchvision %s has no %s" % (torchvision.__version__, ctor))
    if os.path.exists(path) and name in manifest:
        print("%-20s exists, skipped" % name, flush=True)
        return
    t0 = time.time()
    torch.manual_seed(SEED)
    gen = torch.Generator().manual_seed(SEED)
    model = getattr(torchvision.models, ctor)(weights=None, **kwargs)
    params = sum(p.numel() for p in model.parameters())
    rescale_layer_scale(model)
    reinit_zero_linears(model)
    recalibrate_bn(model, size, gen)
    x = torch.randn(2, 3, size, size, generator=gen)
    with torch.no_grad():
        ref = model(x)
    export_kwargs = dict(opset_version=OPSET, input_names=["input"], output_names=["logits"],
                         dynamic_axes={"input": {0: "batch"}, "logits": {0: "batch"}})
    if keep_bn:
        export_kwargs.update(training=torch.onnx.TrainingMode.PRESERVE, do_constant_folding=False)
    torch.onnx.export(model, torch.zeros(1, 3, size, size), path, **export_kwargs)
    onnx.checker.check_model(path)
    m = onnx.load(path, load_external_data=False)
    ops = {}
    for n in m.graph.node:
        ops[n.op_type] = ops.get(n.op_type, 0) + 1
    np.savez(os.path.join(OUT, name + ".ref.npz"), input=x.numpy(), logits=ref.numpy())
    secs = time.time() - t0
    manifest[name] = {
        "name": name, "file": name + ".onnx", "torchvision_model": ctor, "kwargs": kwargs,
        "variant": "bn" if keep_bn else "folded", "input_shape": [1, 3, size, size],
        "params": params, "bytes": os.path.getsize(path), "opset": OPSET,
        "batchnorm_nodes": ops.get("BatchNormalization", 0), "op_counts": dict(sorted(ops.items())),
        "reference": name + ".ref.npz", "logit_abs_max": float(ref.abs().max()),
        "export_seconds": round(secs, 1),
    }
    print("%-20s %10d params %7.1f MB  BN %3d  |logit|max %.3g  %.1fs"
          % (name, params, os.path.getsize(path) / 1e6, ops.get("BatchNormalization", 0),
             float(ref.abs().max()), secs), flush=True)


def main(names):
    torch.set_num_threads(int(os.environ.get("ZOO_THREADS", "2")))
    os.makedirs(OUT, exist_ok=True)
    man_path = os.path.join(OUT, "manifest.json")
    manifest = {}
    if os.path.exists(man_path):
        with open(man_path) as f:
            manifest = {e["name"]: e for e in json.load(f)["models"]}
    failures = []
    for name in names:
        try:
            export_one(name, manifest)
        except Exception as e:  # report and go on with the others
            failures.append(name)
            print("%-20s FAILED: %s: %s" % (name, type(e).__name__, e), flush=True)
        with open(man_path, "w") as f:
            json.dump({"opset": OPSET, "torch_version": torch.__version__,
                       "torchvision_version": torchvision.__version__,
                       "models": [manifest[n] for n in ZOO if n in manifest]}, f, indent=2)
            f.write("\n")
    if failures:
        print("failed: " + ", ".join(failures))
        sys.exit(1)


if __name__ == "__main__":
    args = sys.argv[1:] or list(ZOO)
    bad = [a for a in args if a not in ZOO]
    if bad:
        sys.exit("unknown model(s): %s (known: %s)" % (bad, ", ".join(ZOO)))
    main(args)
