#!/usr/bin/env python3
"""PyTorch side of bench/train-throughput.sh: SGD training steps of the resnet20 fixture on CPU.

Run with Debian's interpreter (python3-torch 1.13):

    /usr/bin/python3 bench/train_throughput.py [--batch 64] [--threads 2] [--warmup 5] [--steps 40]

The model is export_fixtures.ResNet20 with the fixture's weights (torch_reference_step.load_model),
in train mode (BatchNorm on batch statistics); each step is forward, mean cross-entropy, backward
and SGD(lr=0.01, momentum=0.9, weight_decay=5e-4), on random batches [N, 1, 28, 28], the same work
as one run of the training artifact's train_step.onnx. Prints one line:
RESULT side=torch ... images_per_s=... ms_per_step=...
"""
import argparse
import os
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "testmodels"))

import torch  # noqa: E402
import torch.nn.functional as F  # noqa: E402

import torch_reference_step as ref  # noqa: E402


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--batch", type=int, default=64)
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--warmup", type=int, default=5)
    p.add_argument("--steps", type=int, default=40)
    p.add_argument("--teacher", action="store_true",
                   help="distil from a teacher (the same model, eval mode, no grad) run on every step: KL at T 4, weight 0.5")
    p.add_argument("--forward", action="store_true", help="also time the forward alone (train and eval mode)")
    a = p.parse_args()
    torch.set_num_threads(a.threads)
    torch.manual_seed(42)
    model = ref.load_model()
    model.train()
    teacher = None
    if a.teacher:
        teacher = ref.load_model()
        teacher.eval()
    opt = torch.optim.SGD(model.parameters(), lr=0.01, momentum=0.9, weight_decay=5e-4)
    batches = [(torch.randn(a.batch, 1, 28, 28), torch.randint(0, 10, (a.batch,))) for _ in range(8)]

    def step(i):
        x, y = batches[i % len(batches)]
        opt.zero_grad(set_to_none=True)
        s = model(x)
        loss = F.cross_entropy(s, y)
        if teacher is not None:
            with torch.no_grad():
                t = teacher(x)
            temp, w = 4.0, 0.5
            kl = F.kl_div(F.log_softmax(s / temp, dim=1), F.softmax(t / temp, dim=1), reduction="batchmean")
            loss = w * temp * temp * kl + (1 - w) * loss
        loss.backward()
        opt.step()
        return loss.item()

    for i in range(a.warmup):
        step(i)
    times = []
    for i in range(a.steps):
        t0 = time.perf_counter()
        step(i)
        times.append((time.perf_counter() - t0) * 1e3)
    if a.forward:
        x = batches[0][0]
        for mode in ("train", "eval"):
            getattr(model, mode)()
            with torch.no_grad():
                for _ in range(3):
                    model(x)
                ts = []
                for _ in range(a.steps):
                    t0 = time.perf_counter()
                    model(x)
                    ts.append((time.perf_counter() - t0) * 1e3)
            print("FORWARD torch %s mode, no grad: median %.2f ms (batch %d)" % (mode, sorted(ts)[len(ts) // 2], a.batch))
        model.train()
    total = sum(times)
    median = sorted(times)[len(times) // 2]
    print("RESULT side=torch model=resnet20 teacher=%s batch=%d threads=%d steps=%d images_per_s=%.1f ms_per_step=%.2f"
          " median_ms=%.2f torch=%s" % ("yes" if a.teacher else "no", a.batch, a.threads, a.steps, a.steps * a.batch / (total / 1e3),
                                        total / a.steps, median, torch.__version__))


if __name__ == "__main__":
    main()
