#!/usr/bin/env python3
"""Train briefly and export the two small transformer fixtures (integer token inputs).

    /usr/bin/python3 testmodels/export_transformers.py

Writes into testmodels/src/main/resources/onnxprune/testmodels/:
  bert_tiny.onnx         BERT-like encoder classifier: token + position + segment embeddings,
                         LayerNorm, 2 post-LN layers of nn.MultiheadAttention (packed q/k/v
                         in-projection, key padding mask from attention_mask) and a GELU MLP,
                         a tanh pooler on the first token and a 3-class head.
                         Inputs input_ids, attention_mask: int64 [batch, seq]; output logits [batch, 3].
  bert_tiny-calib.npz    input_ids, attention_mask (int64 [256, 12], right-padded with id 0) and
                         labels (int64 [256]) of the synthetic task below.
  gpt_tiny.onnx          GPT-like decoder: token + position embeddings, 2 pre-LN blocks with
                         separate q/k/v Linear projections, a causal mask and a GELU MLP, a final
                         LayerNorm and an LM head tied to the token embedding.
                         Input input_ids: int64 [batch, seq]; output logits [batch, seq, 64].
  gpt_tiny-calib.npz     input_ids (int64 [128, 12]) of the synthetic language below.
and the "transformers" entry of manifest.json.

Both are trained for a few hundred Adam steps on synthetic data (seconds on 2 cores), so their
activations and the classifier's labels mean something; the weights are tiny (well under 1 MB).
- Classifier task: tokens are drawn from 1..VOCAB-1; the label is the most frequent of the three
  buckets (id mod 3) among the unpadded tokens.
- Language: sequences count up by a step drawn per sequence (t[i+1] = t[i] + step mod VOCAB).
The position tables hold 16 positions: sequences longer than 16 do not fit.
"""
import json
import os

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F

HERE = os.path.dirname(os.path.abspath(__file__))
OUT = os.path.join(HERE, "src", "main", "resources", "onnxprune", "testmodels")
SEED = 20240611
THREADS = 2
MAX_POS = 16
SEQ = 12


class BertTiny(nn.Module):
    def __init__(self, vocab=100, hidden=32, heads=4, layers=2, inter=64, types=2, classes=3):
        super().__init__()
        self.word = nn.Embedding(vocab, hidden)
        self.position = nn.Embedding(MAX_POS, hidden)
        self.segment = nn.Embedding(types, hidden)
        self.register_buffer("position_ids", torch.arange(MAX_POS).unsqueeze(0))
        self.emb_norm = nn.LayerNorm(hidden)
        self.attn = nn.ModuleList(nn.MultiheadAttention(hidden, heads, batch_first=True) for _ in range(layers))
        self.attn_norm = nn.ModuleList(nn.LayerNorm(hidden) for _ in range(layers))
        self.fc1 = nn.ModuleList(nn.Linear(hidden, inter) for _ in range(layers))
        self.fc2 = nn.ModuleList(nn.Linear(inter, hidden) for _ in range(layers))
        self.mlp_norm = nn.ModuleList(nn.LayerNorm(hidden) for _ in range(layers))
        self.pooler = nn.Linear(hidden, hidden)
        self.classifier = nn.Linear(hidden, classes)

    def forward(self, input_ids, attention_mask):
        seq = input_ids.shape[1]
        positions = self.position_ids[:, :seq]
        segments = torch.zeros_like(input_ids)
        x = self.word(input_ids) + self.position(positions) + self.segment(segments)
        x = self.emb_norm(x)
        pad = attention_mask == 0
        for attn, n1, fc1, fc2, n2 in zip(self.attn, self.attn_norm, self.fc1, self.fc2, self.mlp_norm):
            a, _ = attn(x, x, x, key_padding_mask=pad, need_weights=False)
            x = n1(x + a)
            x = n2(x + fc2(F.gelu(fc1(x))))
        pooled = torch.tanh(self.pooler(x[:, 0]))
        return self.classifier(pooled)


class GptBlock(nn.Module):
    def __init__(self, hidden, heads, inter):
        super().__init__()
        self.heads = heads
        self.ln1 = nn.LayerNorm(hidden)
        self.q = nn.Linear(hidden, hidden)
        self.k = nn.Linear(hidden, hidden)
        self.v = nn.Linear(hidden, hidden)
        self.proj = nn.Linear(hidden, hidden)
        self.ln2 = nn.LayerNorm(hidden)
        self.fc = nn.Linear(hidden, inter)
        self.out = nn.Linear(inter, hidden)

    def forward(self, x, causal):
        b, t, h = x.shape
        d = h // self.heads
        y = self.ln1(x)
        q = self.q(y).view(b, t, self.heads, d).transpose(1, 2)
        k = self.k(y).view(b, t, self.heads, d).transpose(1, 2)
        v = self.v(y).view(b, t, self.heads, d).transpose(1, 2)
        s = q @ k.transpose(-2, -1) / (d ** 0.5)
        s = s.masked_fill(causal == 0, -1e4)
        a = (F.softmax(s, dim=-1) @ v).transpose(1, 2).reshape(b, t, h)
        x = x + self.proj(a)
        return x + self.out(F.gelu(self.fc(self.ln2(x))))


class GptTiny(nn.Module):
    def __init__(self, vocab=64, hidden=32, heads=4, layers=2, inter=64):
        super().__init__()
        self.word = nn.Embedding(vocab, hidden)
        self.position = nn.Embedding(MAX_POS, hidden)
        self.register_buffer("causal", torch.tril(torch.ones(MAX_POS, MAX_POS)).view(1, 1, MAX_POS, MAX_POS))
        self.blocks = nn.ModuleList(GptBlock(hidden, heads, inter) for _ in range(layers))
        self.ln = nn.LayerNorm(hidden)
        self.head = nn.Linear(hidden, vocab, bias=False)
        self.head.weight = self.word.weight  # tied

    def forward(self, input_ids):
        t = input_ids.shape[1]
        x = self.word(input_ids) + self.position(torch.arange(t).unsqueeze(0))
        causal = self.causal[:, :, :t, :t]
        for blk in self.blocks:
            x = blk(x, causal)
        return self.head(self.ln(x))


def classifier_data(n, vocab, gen):
    ids = torch.randint(1, vocab, (n, SEQ), generator=gen)
    lengths = torch.randint(SEQ // 2, SEQ + 1, (n,), generator=gen)
    mask = (torch.arange(SEQ).unsqueeze(0) < lengths.unsqueeze(1)).long()
    ids = ids * mask
    counts = torch.stack([((ids % 3 == r) & (mask == 1)).sum(1) for r in range(3)], 1)
    return ids, mask, counts.argmax(1)


def language_data(n, vocab, gen):
    start = torch.randint(0, vocab, (n, 1), generator=gen)
    step = torch.randint(1, 4, (n, 1), generator=gen)
    return (start + step * torch.arange(SEQ).unsqueeze(0)) % vocab


def train_bert(model, gen, steps=400):
    opt = torch.optim.Adam(model.parameters(), lr=3e-3)
    model.train()
    for _ in range(steps):
        ids, mask, y = classifier_data(64, 100, gen)
        loss = F.cross_entropy(model(ids, mask), y)
        opt.zero_grad()
        loss.backward()
        opt.step()
    model.eval()
    ids, mask, y = classifier_data(1000, 100, gen)
    with torch.no_grad():
        return float((model(ids, mask).argmax(1) == y).float().mean())


def train_gpt(model, gen, steps=300):
    opt = torch.optim.Adam(model.parameters(), lr=3e-3)
    model.train()
    for _ in range(steps):
        ids = language_data(64, 64, gen)
        logits = model(ids[:, :-1])
        loss = F.cross_entropy(logits.reshape(-1, 64), ids[:, 1:].reshape(-1))
        opt.zero_grad()
        loss.backward()
        opt.step()
    model.eval()
    ids = language_data(1000, 64, gen)
    with torch.no_grad():
        return float((model(ids[:, :-1]).argmax(-1)[:, 1:] == ids[:, 2:]).float().mean())


def export(model, args, names, dynamic, path, opset):
    import onnx
    torch.onnx.export(model, args, path, opset_version=opset, input_names=names, output_names=["logits"],
                      dynamic_axes=dynamic)
    m = onnx.load(path)
    onnx.checker.check_model(m)
    return sorted({n.op_type for n in m.graph.node}), len(m.graph.node)


def main():
    torch.set_num_threads(THREADS)
    torch.manual_seed(SEED)
    gen = torch.Generator().manual_seed(SEED)
    entries = []

    bert = BertTiny()
    acc = train_bert(bert, gen)
    ids, mask, y = classifier_data(256, 100, gen)
    np.savez(os.path.join(OUT, "bert_tiny-calib.npz"), input_ids=ids.numpy(), attention_mask=mask.numpy(),
             labels=y.numpy())
    ops, nodes = export(bert, (ids[:2], mask[:2]), ["input_ids", "attention_mask"],
                        {"input_ids": {0: "batch", 1: "seq"}, "attention_mask": {0: "batch", 1: "seq"},
                         "logits": {0: "batch"}}, os.path.join(OUT, "bert_tiny.onnx"), 13)
    entries.append({"name": "bert_tiny", "file": "bert_tiny.onnx", "calibration": "bert_tiny-calib.npz",
                    "architecture": "BERT-like encoder: token+position+segment embeddings, 2 post-LN layers of"
                                    " nn.MultiheadAttention (4 heads, hidden 32) + GELU MLP (64), tanh pooler,"
                                    " 3-class head",
                    "inputs": {"input_ids": "int64 [batch, seq]", "attention_mask": "int64 [batch, seq]"},
                    "vocab": 100, "max_positions": MAX_POS, "params": sum(p.numel() for p in bert.parameters()),
                    "synthetic_accuracy": round(acc, 4), "opset": 13, "nodes": nodes, "ops": ops})
    print("bert_tiny  params %d  accuracy %.3f  nodes %d" % (entries[-1]["params"], acc, nodes))

    gpt = GptTiny()
    acc = train_gpt(gpt, gen)
    ids = language_data(128, 64, gen)
    np.savez(os.path.join(OUT, "gpt_tiny-calib.npz"), input_ids=ids.numpy())
    ops, nodes = export(gpt, (ids[:2],), ["input_ids"],
                        {"input_ids": {0: "batch", 1: "seq"}, "logits": {0: "batch", 1: "seq"}},
                        os.path.join(OUT, "gpt_tiny.onnx"), 14)
    entries.append({"name": "gpt_tiny", "file": "gpt_tiny.onnx", "calibration": "gpt_tiny-calib.npz",
                    "architecture": "GPT-like decoder: token+position embeddings, 2 pre-LN blocks with separate"
                                    " q/k/v Linear (4 heads, hidden 32), causal mask, GELU MLP (64), LM head tied"
                                    " to the token embedding",
                    "inputs": {"input_ids": "int64 [batch, seq]"}, "vocab": 64, "max_positions": MAX_POS,
                    "params": sum(p.numel() for p in gpt.parameters()),
                    "synthetic_next_token_accuracy": round(acc, 4), "opset": 14, "nodes": nodes, "ops": ops})
    print("gpt_tiny   params %d  accuracy %.3f  nodes %d" % (entries[-1]["params"], acc, nodes))

    man_path = os.path.join(OUT, "manifest.json")
    with open(man_path) as f:
        manifest = json.load(f)
    manifest["transformers"] = entries
    with open(man_path, "w") as f:
        json.dump(manifest, f, indent=2)
        f.write("\n")


if __name__ == "__main__":
    main()
