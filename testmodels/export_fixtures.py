#!/usr/bin/env python3
"""Train and export the small Fashion-MNIST fixture CNNs used by onnx-prune's tests.

Run with Debian's interpreter (python3-torch 1.13 CPU, python3-torchvision, python3-onnx,
dataset-fashion-mnist):

    /usr/bin/python3 testmodels/export_fixtures.py [names...]

Writes into testmodels/src/main/resources/onnxprune/testmodels/:
  <name>.onnx          BatchNormalization nodes kept (eval mode, TrainingMode.PRESERVE)
  <name>_folded.onnx   default export (eval mode, constant folding: BN folded into Conv)
  fmnist-{calib,test}-{images-idx3,labels-idx1}-ubyte.gz  IDX subsets
  manifest.json
Everything is seeded; with the same PyTorch build and thread count the run is reproducible.
"""
import gzip
import json
import os
import struct
import sys
import time

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F

HERE = os.path.dirname(os.path.abspath(__file__))
OUT = os.path.join(HERE, "src", "main", "resources", "onnxprune", "testmodels")
DATA = "/usr/share/datasets/fashion-mnist"
MEAN, STD = 0.2860, 0.3530
OPSET = 13
SEED = 20240601
THREADS = 2
CALIB_N, TEST_N = 1000, 2000

# ---------------------------------------------------------------------------- data

def read_idx(path):
    with gzip.open(path, "rb") as f:
        raw = f.read()
    zero, dtype, ndim = struct.unpack(">HBB", raw[:4])
    assert zero == 0 and dtype == 0x08, path
    dims = struct.unpack(">" + "I" * ndim, raw[4:4 + 4 * ndim])
    return np.frombuffer(raw, dtype=np.uint8, offset=4 + 4 * ndim).reshape(dims)


def write_idx(path, arr):
    arr = np.ascontiguousarray(arr, dtype=np.uint8)
    header = struct.pack(">HBB", 0, 0x08, arr.ndim) + struct.pack(">" + "I" * arr.ndim, *arr.shape)
    # mtime=0 so the gzip bytes are reproducible
    with open(path, "wb") as raw, gzip.GzipFile(filename="", mode="wb", fileobj=raw, mtime=0) as f:
        f.write(header + arr.tobytes())


def normalise(u8):
    return (torch.from_numpy(u8.astype(np.float32)).unsqueeze(1) / 255.0 - MEAN) / STD


# ---------------------------------------------------------------------------- models

def conv_bn_relu(cin, cout, k=3, s=1, groups=1, act=nn.ReLU):
    return nn.Sequential(nn.Conv2d(cin, cout, k, s, k // 2, groups=groups, bias=False),
                         nn.BatchNorm2d(cout), act(inplace=True))


class BasicBlock(nn.Module):
    def __init__(self, cin, cout, stride, se=False):
        super().__init__()
        self.conv1 = nn.Conv2d(cin, cout, 3, stride, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(cout)
        self.conv2 = nn.Conv2d(cout, cout, 3, 1, 1, bias=False)
        self.bn2 = nn.BatchNorm2d(cout)
        self.se = SqueezeExcite(cout, 4) if se else None
        self.shortcut = None
        if stride != 1 or cin != cout:
            self.shortcut = nn.Sequential(nn.Conv2d(cin, cout, 1, stride, bias=False), nn.BatchNorm2d(cout))

    def forward(self, x):
        out = F.relu(self.bn1(self.conv1(x)))
        out = self.bn2(self.conv2(out))
        if self.se is not None:
            out = self.se(out)
        sc = x if self.shortcut is None else self.shortcut(x)
        return F.relu(out + sc)


class ResNet20(nn.Module):
    """CIFAR-style ResNet-20 (3 stages x 3 basic blocks, 16/32/64), 1x1 conv+BN downsample."""

    def __init__(self, num_classes=10):
        super().__init__()
        self.stem = conv_bn_relu(1, 16)
        layers, cin = [], 16
        for cout, stride in ((16, 1), (32, 2), (64, 2)):
            for i in range(3):
                layers.append(BasicBlock(cin, cout, stride if i == 0 else 1))
                cin = cout
        self.layers = nn.Sequential(*layers)
        self.pool = nn.AdaptiveAvgPool2d(1)
        self.fc = nn.Linear(64, num_classes)

    def forward(self, x):
        x = self.pool(self.layers(self.stem(x)))
        return self.fc(torch.flatten(x, 1))


class VggBN(nn.Module):
    """Conv-BN-ReLU blocks + MaxPool, Flatten over a 64x3x3 map, two Linear layers."""

    def __init__(self, num_classes=10):
        super().__init__()
        self.features = nn.Sequential(
            conv_bn_relu(1, 16), conv_bn_relu(16, 16), nn.MaxPool2d(2),    # 14x14
            conv_bn_relu(16, 32), conv_bn_relu(32, 32), nn.MaxPool2d(2),   # 7x7
            conv_bn_relu(32, 64), nn.MaxPool2d(2))                          # 3x3
        self.classifier = nn.Sequential(
            nn.Flatten(), nn.Linear(64 * 3 * 3, 64), nn.ReLU(inplace=True), nn.Linear(64, num_classes))

    def forward(self, x):
        return self.classifier(self.features(x))


class DenseLayer(nn.Module):
    def __init__(self, cin, growth):
        super().__init__()
        self.bn = nn.BatchNorm2d(cin)
        self.conv = nn.Conv2d(cin, growth, 3, 1, 1, bias=False)

    def forward(self, x):
        return torch.cat([x, self.conv(F.relu(self.bn(x)))], 1)


class Transition(nn.Sequential):
    def __init__(self, cin, cout):
        super().__init__(nn.BatchNorm2d(cin), nn.ReLU(inplace=True),
                         nn.Conv2d(cin, cout, 1, bias=False), nn.AvgPool2d(2, 2))


class DenseNet(nn.Module):
    """Small DenseNet: growth 12, 3 dense blocks of 4 BN-ReLU-Conv3x3 layers, compression 0.5."""

    def __init__(self, num_classes=10, growth=12, layers=4):
        super().__init__()
        c = 2 * growth
        mods = [conv_bn_relu(1, c)]  # post-activation stem: the one BN a folded export can fold
        for b in range(3):
            for _ in range(layers):
                mods.append(DenseLayer(c, growth))
                c += growth
            if b < 2:
                mods.append(Transition(c, c // 2))
                c //= 2
        mods += [nn.BatchNorm2d(c), nn.ReLU(inplace=True), nn.AdaptiveAvgPool2d(1)]
        self.features = nn.Sequential(*mods)
        self.fc = nn.Linear(c, num_classes)

    def forward(self, x):
        return self.fc(torch.flatten(self.features(x), 1))


class InvertedResidual(nn.Module):
    def __init__(self, cin, cout, stride, expand):
        super().__init__()
        hidden = cin * expand
        layers = []
        if expand != 1:
            layers.append(conv_bn_relu(cin, hidden, 1, act=nn.ReLU6))
        layers += [conv_bn_relu(hidden, hidden, 3, stride, groups=hidden, act=nn.ReLU6),
                   nn.Conv2d(hidden, cout, 1, bias=False), nn.BatchNorm2d(cout)]
        self.block = nn.Sequential(*layers)
        self.residual = stride == 1 and cin == cout

    def forward(self, x):
        return x + self.block(x) if self.residual else self.block(x)


class MobileNetV2(nn.Module):
    """Small MobileNetV2: stem 16, IR blocks (t,c,n,s) = (1,16,1,1) (4,24,2,2) (4,32,2,2) (4,64,2,1)."""

    def __init__(self, num_classes=10):
        super().__init__()
        mods, cin = [conv_bn_relu(1, 16, act=nn.ReLU6)], 16
        for t, c, n, s in ((1, 16, 1, 1), (4, 24, 2, 2), (4, 32, 2, 2), (4, 64, 2, 1)):
            for i in range(n):
                mods.append(InvertedResidual(cin, c, s if i == 0 else 1, t))
                cin = c
        mods += [conv_bn_relu(cin, 128, 1, act=nn.ReLU6), nn.AdaptiveAvgPool2d(1)]
        self.features = nn.Sequential(*mods)
        self.classifier = nn.Linear(128, num_classes)

    def forward(self, x):
        return self.classifier(torch.flatten(self.features(x), 1))


class SqueezeExcite(nn.Module):
    """GlobalAveragePool -> 1x1 Conv (C->C/r) -> ReLU -> 1x1 Conv (C/r->C) -> Sigmoid -> Mul."""

    def __init__(self, c, r):
        super().__init__()
        self.pool = nn.AdaptiveAvgPool2d(1)
        self.fc1 = nn.Conv2d(c, c // r, 1)
        self.fc2 = nn.Conv2d(c // r, c, 1)

    def forward(self, x):
        s = torch.sigmoid(self.fc2(F.relu(self.fc1(self.pool(x)))))
        return x * s


class SENet(nn.Module):
    """ResNet-like: stem 16, one SE basic block per stage (16 identity, 32/64 projection)."""

    def __init__(self, num_classes=10):
        super().__init__()
        self.stem = conv_bn_relu(1, 16)
        self.layers = nn.Sequential(BasicBlock(16, 16, 1, se=True), BasicBlock(16, 32, 2, se=True),
                                    BasicBlock(32, 64, 2, se=True))
        self.pool = nn.AdaptiveAvgPool2d(1)
        self.fc = nn.Linear(64, num_classes)

    def forward(self, x):
        return self.fc(torch.flatten(self.pool(self.layers(self.stem(x))), 1))


class InceptionBlock(nn.Module):
    """Branches: 1x1 | 1x1->3x3 | 1x1->3x3->3x3 | pool->1x1, concatenated on channels."""

    def __init__(self, cin, c1, c3r, c3, c5r, c5, cp, pool="max"):
        super().__init__()
        self.b1 = conv_bn_relu(cin, c1, 1)
        self.b2 = nn.Sequential(conv_bn_relu(cin, c3r, 1), conv_bn_relu(c3r, c3, 3))
        self.b3 = nn.Sequential(conv_bn_relu(cin, c5r, 1), conv_bn_relu(c5r, c5, 3), conv_bn_relu(c5, c5, 3))
        p = nn.MaxPool2d(3, 1, 1) if pool == "max" else nn.AvgPool2d(3, 1, 1, count_include_pad=False)
        self.b4 = nn.Sequential(p, conv_bn_relu(cin, cp, 1))

    def forward(self, x):
        return torch.cat([self.b1(x), self.b2(x), self.b3(x), self.b4(x)], 1)


class Inception(nn.Module):
    def __init__(self, num_classes=10):
        super().__init__()
        self.stem = nn.Sequential(conv_bn_relu(1, 32), nn.MaxPool2d(2))                 # 14x14
        self.a = InceptionBlock(32, 16, 16, 24, 8, 8, 8, pool="max")                    # 56
        self.pool = nn.MaxPool2d(2)                                                     # 7x7
        self.b = InceptionBlock(56, 32, 24, 32, 8, 16, 16, pool="avg")                  # 96
        self.gap = nn.AdaptiveAvgPool2d(1)
        self.fc = nn.Linear(96, num_classes)

    def forward(self, x):
        x = self.b(self.pool(self.a(self.stem(x))))
        return self.fc(torch.flatten(self.gap(x), 1))


# name -> (constructor, description, epochs over the 60k training images)
MODELS = {
    "resnet20": (ResNet20, "CIFAR-style ResNet-20, 16/32/64, 1x1 conv+BN projection shortcuts", 2),
    "vgg_bn": (VggBN, "VGG-style Conv-BN-ReLU + MaxPool, Flatten(64x3x3) -> Gemm 576x64 -> Gemm 64x10", 2),
    "densenet": (DenseNet, "DenseNet, Conv-BN-ReLU stem, growth 12, 3 blocks x 4 BN-ReLU-Conv3x3 layers (Concat), transitions BN-ReLU-1x1 conv-AvgPool", 1),
    "mobilenetv2": (MobileNetV2, "MobileNetV2, inverted residuals (1x1 expand, 3x3 depthwise, 1x1 project), ReLU6", 1),
    "senet": (SENet, "ResNet-like, 3 SE basic blocks (GAP, 1x1 conv, ReLU, 1x1 conv, Sigmoid, Mul)", 2),
    "inception": (Inception, "2 inception blocks (1x1 | 1x1-3x3 | 1x1-3x3-3x3 | pool-1x1, Concat)", 2),
}
TRAIN_N = 60000
BATCH = 128
LR = 0.01


# ---------------------------------------------------------------------------- training

def train(model, x, y, seed, epochs):
    g = torch.Generator().manual_seed(seed)
    opt = torch.optim.Adam(model.parameters(), lr=LR / 5, weight_decay=0)
    steps = epochs * ((len(x) + BATCH - 1) // BATCH)
    sched = torch.optim.lr_scheduler.OneCycleLR(opt, max_lr=LR, total_steps=steps, pct_start=0.25)
    model.train()
    for _ in range(epochs):
        perm = torch.randperm(len(x), generator=g)
        for i in range(0, len(x), BATCH):
            idx = perm[i:i + BATCH]
            loss = F.cross_entropy(model(x[idx]), y[idx])
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            sched.step()
    model.eval()


@torch.no_grad()
def predict(model, x):
    model.eval()
    return torch.cat([model(x[i:i + 1000]).argmax(1) for i in range(0, len(x), 1000)])


# ---------------------------------------------------------------------------- export

def export(model, path, keep_bn):
    import onnx
    dummy = torch.zeros(1, 1, 28, 28)
    kwargs = dict(opset_version=OPSET, input_names=["input"], output_names=["logits"],
                  dynamic_axes={"input": {0: "batch"}, "logits": {0: "batch"}})
    if keep_bn:
        kwargs.update(training=torch.onnx.TrainingMode.PRESERVE, do_constant_folding=False)
    model.eval()
    torch.onnx.export(model, dummy, path, **kwargs)
    m = onnx.load(path)
    onnx.checker.check_model(m, full_check=True)
    n_bn = sum(1 for n in m.graph.node if n.op_type == "BatchNormalization")
    if keep_bn:
        assert n_bn > 0, path + ": BatchNormalization nodes missing"
        for n in m.graph.node:
            if n.op_type == "BatchNormalization":
                assert len(n.output) == 1, "training-mode BN exported in " + path
    # folded: every BN that follows a Conv is folded; pre-activation BNs (DenseNet's
    # BN-ReLU-Conv after a Concat) have no Conv to fold into and stay.
    return m, n_bn


def check_against_torch(m, model, xb):
    try:
        from onnx.reference import ReferenceEvaluator
    except ImportError:
        return None
    ref = ReferenceEvaluator(m)
    got = ref.run(None, {"input": xb.numpy()})[0]
    with torch.no_grad():
        want = model(xb).numpy()
    err = float(np.max(np.abs(got - want)))
    assert err < 1e-3 * max(1.0, float(np.max(np.abs(want)))), err
    return err


def main(names):
    torch.set_num_threads(THREADS)
    torch.use_deterministic_algorithms(True)
    os.makedirs(OUT, exist_ok=True)
    xtr_u8 = read_idx(os.path.join(DATA, "train-images-idx3-ubyte.gz"))
    ytr_u8 = read_idx(os.path.join(DATA, "train-labels-idx1-ubyte.gz"))
    xte_u8 = read_idx(os.path.join(DATA, "t10k-images-idx3-ubyte.gz"))
    yte_u8 = read_idx(os.path.join(DATA, "t10k-labels-idx1-ubyte.gz"))

    # IDX subsets: calibration = first 1,000 train images, test = first 2,000 test images
    write_idx(os.path.join(OUT, "fmnist-calib-images-idx3-ubyte.gz"), xtr_u8[:CALIB_N])
    write_idx(os.path.join(OUT, "fmnist-calib-labels-idx1-ubyte.gz"), ytr_u8[:CALIB_N])
    write_idx(os.path.join(OUT, "fmnist-test-images-idx3-ubyte.gz"), xte_u8[:TEST_N])
    write_idx(os.path.join(OUT, "fmnist-test-labels-idx1-ubyte.gz"), yte_u8[:TEST_N])

    xtr, ytr = normalise(xtr_u8[:TRAIN_N]), torch.from_numpy(ytr_u8[:TRAIN_N].astype(np.int64))
    xte, yte = normalise(xte_u8), torch.from_numpy(yte_u8.astype(np.int64))

    man_path = os.path.join(OUT, "manifest.json")
    manifest = {"models": []}
    if os.path.exists(man_path):
        with open(man_path) as f:
            manifest = json.load(f)
    manifest.update({
        "dataset": "Fashion-MNIST", "num_classes": 10,
        "input_shape": [1, 1, 28, 28], "mean": MEAN, "std": STD,
        "preprocessing": "x = (pixel/255 - mean) / std",
        "opset": OPSET, "torch_version": torch.__version__, "seed": SEED,
        "training": {"optimizer": "Adam + OneCycleLR", "max_lr": LR, "train_images": TRAIN_N, "batch": BATCH, "threads": THREADS},
        "data": {
            "calib_images": "fmnist-calib-images-idx3-ubyte.gz", "calib_labels": "fmnist-calib-labels-idx1-ubyte.gz",
            "calib_source": "first %d images of the Fashion-MNIST train set" % CALIB_N,
            "test_images": "fmnist-test-images-idx3-ubyte.gz", "test_labels": "fmnist-test-labels-idx1-ubyte.gz",
            "test_source": "first %d images of the Fashion-MNIST test set (t10k)" % TEST_N,
        },
    })
    entries = {e["file"]: e for e in manifest["models"]}
    total = 0.0
    for k, name in enumerate(names):
        ctor, desc, epochs = MODELS[name]
        seed = SEED + 1000 * list(MODELS).index(name)
        torch.manual_seed(seed)
        np.random.seed(seed)
        model = ctor()
        params = sum(p.numel() for p in model.parameters())
        t0 = time.time()
        train(model, xtr, ytr, seed, epochs)
        secs = time.time() - t0
        total += secs
        pred = predict(model, xte)
        acc = float((pred == yte).float().mean())
        acc_sub = float((pred[:TEST_N] == yte[:TEST_N]).float().mean())
        print("%-12s params %7d  train %6.1fs  test acc %.4f  subset(%d) acc %.4f"
              % (name, params, secs, acc, TEST_N, acc_sub), flush=True)
        xb = xte[:16]
        for variant, keep_bn in (("bn", True), ("folded", False)):
            fname = name + (".onnx" if keep_bn else "_folded.onnx")
            path = os.path.join(OUT, fname)
            m, n_bn = export(model, path, keep_bn)
            err = check_against_torch(m, model, xb)
            ops = sorted({n.op_type for n in m.graph.node})
            print("   %-22s %8d bytes  BN nodes %3d  max|onnx-torch| %s  ops %s"
                  % (fname, os.path.getsize(path), n_bn, "n/a" if err is None else "%.2e" % err, ",".join(ops)),
                  flush=True)
            entries[fname] = {
                "name": name, "file": fname, "architecture": desc, "variant": variant,
                "params": params, "test_accuracy": round(acc, 4),
                "test_subset_accuracy": round(acc_sub, 4), "test_subset_size": TEST_N,
                "input_shape": [1, 1, 28, 28], "mean": MEAN, "std": STD, "opset": OPSET,
                "batchnorm_nodes": n_bn, "epochs": epochs, "train_seconds": round(secs, 1),
            }
    order = [n + s for n in MODELS for s in (".onnx", "_folded.onnx")]
    manifest["models"] = [entries[f] for f in order if f in entries]
    with open(man_path, "w") as f:
        json.dump(manifest, f, indent=2)
        f.write("\n")
    print("total training time %.1fs" % total)


if __name__ == "__main__":
    args = sys.argv[1:] or list(MODELS)
    bad = [a for a in args if a not in MODELS]
    if bad:
        sys.exit("unknown model(s): %s (known: %s)" % (bad, ", ".join(MODELS)))
    main(args)
