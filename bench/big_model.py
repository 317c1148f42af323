#!/usr/bin/env python3
"""Writes an MLP over 2 GiB with external data, for measuring memory on models past protobuf's limit.

    /usr/bin/python3 bench/big_model.py OUT_DIR [--width 8192] [--layers 9]

OUT_DIR/big.onnx holds the graph; OUT_DIR/big.onnx.data the weights (each tensor at a 4 KiB aligned
offset), written one layer at a time so this script needs about one layer of memory. The graph:
x [1, WIDTH] -> LAYERS x (MatMul [WIDTH, WIDTH] -> Add bias -> Relu) -> MatMul [WIDTH, 10] -> y.
With the defaults: 9 layers of 8192 x 8192 floats, 2,416,377,856 bytes of weights (2.25 GiB).
Every hidden layer is a prunable channel group. Used by bench/README.md's "Models over 2 GiB";
delete OUT_DIR afterwards (never commit it).
"""
import argparse
import os

import numpy as np
import onnx
from onnx import TensorProto, helper


def external(name, array, data, location):
    offset = data.tell()
    pad = (-offset) % 4096
    if pad:
        data.write(b"\0" * pad)
        offset += pad
    raw = np.ascontiguousarray(array, dtype="<f4").tobytes()
    data.write(raw)
    t = TensorProto()
    t.name = name
    t.data_type = TensorProto.FLOAT
    t.dims.extend(array.shape)
    t.data_location = TensorProto.EXTERNAL
    for k, v in (("location", location), ("offset", str(offset)), ("length", str(len(raw)))):
        e = t.external_data.add()
        e.key, e.value = k, v
    return t


def main():
    p = argparse.ArgumentParser()
    p.add_argument("out_dir")
    p.add_argument("--width", type=int, default=8192)
    p.add_argument("--layers", type=int, default=9)
    a = p.parse_args()
    os.makedirs(a.out_dir, exist_ok=True)
    model_path = os.path.join(a.out_dir, "big.onnx")
    location = "big.onnx.data"
    rng = np.random.default_rng(20261204)
    inits, nodes = [], []
    prev = "x"
    with open(os.path.join(a.out_dir, location), "wb") as data:
        for i in range(a.layers):
            w = rng.standard_normal((a.width, a.width), dtype=np.float32) * np.float32(1.0 / np.sqrt(a.width))
            b = rng.standard_normal(a.width, dtype=np.float32) * np.float32(0.1)
            inits.append(external(f"w{i}", w, data, location))
            del w
            inits.append(external(f"b{i}", b, data, location))
            nodes.append(helper.make_node("MatMul", [prev, f"w{i}"], [f"mm{i}"], name=f"mm{i}"))
            nodes.append(helper.make_node("Add", [f"mm{i}", f"b{i}"], [f"add{i}"], name=f"add{i}"))
            nodes.append(helper.make_node("Relu", [f"add{i}"], [f"relu{i}"], name=f"relu{i}"))
            prev = f"relu{i}"
        head = rng.standard_normal((a.width, 10), dtype=np.float32) * np.float32(1.0 / np.sqrt(a.width))
        inits.append(external("head", head, data, location))
        nodes.append(helper.make_node("MatMul", [prev, "head"], ["y"], name="head"))
        size = data.tell()
    graph = helper.make_graph(nodes, "big_mlp",
                              [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, a.width])],
                              [helper.make_tensor_value_info("y", TensorProto.FLOAT, [1, 10])], initializer=inits)
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)], producer_name="big_model.py")
    model.ir_version = 8
    with open(model_path, "wb") as f:
        f.write(model.SerializeToString())
    print(f"{model_path}: {len(nodes)} nodes, {size} bytes of external data ({size / 2**30:.2f} GiB)")


if __name__ == "__main__":
    main()
