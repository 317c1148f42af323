#!/usr/bin/env python3
"""Reference for onnx-prune's training artifact: one PyTorch SGD step of the resnet20 fixture.

Run with Debian's interpreter (python3-torch 1.13 CPU, python3-onnx):

    /usr/bin/python3 testmodels/torch_reference_step.py

Builds the PyTorch twin of resnet20.onnx (export_fixtures.ResNet20, weights and BN statistics
loaded from the ONNX initializers by name; the exporter's Identity-shared copies are resolved to
their source), puts it in train mode (BatchNorm on batch statistics, running statistics updated
with PyTorch's unbiased variance), and runs one step of
SGD(lr=0.01, momentum=0.9, weight_decay=5e-4) with mean cross-entropy on the first 32
calibration images (fmnist-calib-*, normalised as in training). Writes
src/main/resources/onnxprune/testmodels/resnet20_sgd_step.onnx: an ONNX file with no nodes whose
initializers are `loss` (the loss before the step, float32 scalar), `logits` [32, 10], and every
parameter and running statistic after the step under its state_dict name. Then, from the same
start, two steps of AdamW(lr=1e-3, weight_decay=0.01) (bias correction over the step count) on the
same batch: resnet20_adamw_steps.onnx holds `loss1`, `loss2` and a few tensors after step 2. The
Java test PyTorchAgreementTest runs train_step.onnx on the same batch and compares.
"""
import os
import sys

import numpy as np
import onnx
from onnx import helper, numpy_helper
import torch
import torch.nn.functional as F

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
import export_fixtures as fx  # noqa: E402
import export_transformers as tx  # noqa: E402

OUT = os.path.join(fx.OUT, "resnet20_sgd_step.onnx")
OUT_ADAMW = os.path.join(fx.OUT, "resnet20_adamw_steps.onnx")
OUT_VIT = os.path.join(fx.OUT, "vit_tiny_sgd_step.onnx")
ADAMW_LR, ADAMW_WD = 1e-3, 0.01
ADAMW_KEEP = ["stem.0.weight", "stem.1.weight", "stem.1.bias", "layers.4.conv1.weight", "layers.8.conv2.weight",
              "layers.8.bn2.weight", "layers.6.shortcut.1.bias", "fc.weight", "fc.bias"]
BATCH = 32
LR, MOMENTUM, WD = 0.01, 0.9, 5e-4


def onnx_tensors(path):
    m = onnx.load(path)
    t = {i.name: numpy_helper.to_array(i) for i in m.graph.initializer}
    for n in m.graph.node:  # exporter-merged copies: Identity(source) -> name
        if n.op_type == "Identity" and n.input[0] in t:
            t[n.output[0]] = t[n.input[0]]
    return t


def save(path, inits, doc):
    graph = helper.make_graph([], os.path.basename(path)[:-5], [], [], initializer=inits)
    m = helper.make_model(graph, producer_name="torch_reference_step.py", doc_string=doc,
                          opset_imports=[helper.make_opsetid("", 13)])
    m.ir_version = 7
    onnx.save(m, path)


def load_model():
    model = fx.ResNet20()
    tensors = onnx_tensors(os.path.join(fx.OUT, "resnet20.onnx"))
    state = model.state_dict()
    for name in state:
        if name.endswith("num_batches_tracked"):
            continue
        src = torch.from_numpy(np.array(tensors[name]))
        assert src.shape == state[name].shape, name
        state[name] = src
    model.load_state_dict(state)
    model.train()
    return model


def vit_transposed_names(m):
    """ONNX name of each PyTorch weight that the exporter stored transposed as a MatMul operand."""
    names = {}
    for n in m.graph.node:
        if n.op_type == "MatMul" and n.input[1].startswith("onnx::MatMul"):
            scope = n.name.split("/")[1]  # /attn.0/MatMul, /fc1.0/MatMul
            names[n.input[1]] = scope + (".in_proj_weight" if scope.startswith("attn") else ".weight")
    return names


def vit_step():
    torch.manual_seed(0)
    torch.set_num_threads(fx.THREADS)
    path = os.path.join(fx.OUT, "vit_tiny.onnx")
    m = onnx.load(path)
    tensors = onnx_tensors(path)
    transposed = vit_transposed_names(m)
    model = tx.VitTiny()
    state = model.state_dict()
    for onnx_name, torch_name in transposed.items():
        state[torch_name] = torch.from_numpy(np.array(tensors[onnx_name]).T.copy())
    for name in state:
        if name not in transposed.values():
            state[name] = torch.from_numpy(np.array(tensors[name]))
    model.load_state_dict(state)
    model.train()
    images = fx.read_idx(os.path.join(fx.OUT, "fmnist-calib-images-idx3-ubyte.gz"))[:BATCH]
    labels = fx.read_idx(os.path.join(fx.OUT, "fmnist-calib-labels-idx1-ubyte.gz"))[:BATCH]
    x = fx.normalise(images)
    y = torch.from_numpy(labels.astype(np.int64))
    opt = torch.optim.SGD(model.parameters(), lr=LR, momentum=MOMENTUM, weight_decay=WD)
    opt.zero_grad()
    logits = model(x)
    loss = F.cross_entropy(logits, y)
    loss.backward()
    opt.step()
    inits = [numpy_helper.from_array(np.array(loss.item(), dtype=np.float32), "loss"),
             numpy_helper.from_array(logits.detach().numpy().astype(np.float32), "logits")]
    sd = model.state_dict()
    back = {v: k for k, v in transposed.items()}
    for name, t in sd.items():
        a = t.detach().numpy().astype(np.float32)
        inits.append(numpy_helper.from_array(a.T.copy() if name in back else a, back.get(name, name)))
    save(OUT_VIT, inits, "PyTorch %s: one SGD(lr=%g, momentum=%g, weight_decay=%g) step of vit_tiny on the first %d"
         " calibration images, every parameter trained; loss before the step, parameters after it under their"
         " names in vit_tiny.onnx" % (torch.__version__, LR, MOMENTUM, WD, BATCH))
    print("vit_tiny loss %.6f, wrote %s (%d bytes)" % (loss.item(), OUT_VIT, os.path.getsize(OUT_VIT)))


def main():
    torch.manual_seed(0)
    torch.set_num_threads(fx.THREADS)
    model = load_model()

    images = fx.read_idx(os.path.join(fx.OUT, "fmnist-calib-images-idx3-ubyte.gz"))[:BATCH]
    labels = fx.read_idx(os.path.join(fx.OUT, "fmnist-calib-labels-idx1-ubyte.gz"))[:BATCH]
    x = fx.normalise(images)
    y = torch.from_numpy(labels.astype(np.int64))

    opt = torch.optim.SGD(model.parameters(), lr=LR, momentum=MOMENTUM, weight_decay=WD)
    opt.zero_grad()
    logits = model(x)
    loss = F.cross_entropy(logits, y)
    loss.backward()
    opt.step()

    inits = [numpy_helper.from_array(np.array(loss.item(), dtype=np.float32), "loss"),
             numpy_helper.from_array(logits.detach().numpy().astype(np.float32), "logits")]
    for name, t in model.state_dict().items():
        if not name.endswith("num_batches_tracked"):
            inits.append(numpy_helper.from_array(t.detach().numpy().astype(np.float32), name))
    save(OUT, inits, "PyTorch %s: one SGD(lr=%g, momentum=%g, weight_decay=%g) step of resnet20 in train mode on"
         " the first %d calibration images; loss before the step, parameters and running statistics after it"
         % (torch.__version__, LR, MOMENTUM, WD, BATCH))
    print("loss %.6f, wrote %s (%d bytes)" % (loss.item(), OUT, os.path.getsize(OUT)))

    model = load_model()
    opt = torch.optim.AdamW(model.parameters(), lr=ADAMW_LR, weight_decay=ADAMW_WD)
    losses = []
    for _ in range(2):
        opt.zero_grad()
        loss = F.cross_entropy(model(x), y)
        loss.backward()
        opt.step()
        losses.append(loss.item())
    inits = [numpy_helper.from_array(np.array(l, dtype=np.float32), "loss%d" % (i + 1)) for i, l in enumerate(losses)]
    sd = model.state_dict()
    inits += [numpy_helper.from_array(sd[k].detach().numpy().astype(np.float32), k) for k in ADAMW_KEEP]
    save(OUT_ADAMW, inits, "PyTorch %s: two AdamW(lr=%g, weight_decay=%g) steps of resnet20 in train mode on the"
         " first %d calibration images; the loss of each step and some parameters after the second"
         % (torch.__version__, ADAMW_LR, ADAMW_WD, BATCH))
    print("losses %s, wrote %s (%d bytes)" % (losses, OUT_ADAMW, os.path.getsize(OUT_ADAMW)))


if __name__ == "__main__":
    which = sys.argv[1:] or ["resnet20", "vit_tiny"]
    if "resnet20" in which:
        main()
    if "vit_tiny" in which:
        vit_step()
