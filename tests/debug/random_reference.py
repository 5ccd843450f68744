#!/usr/bin/python3
"""random_reference.py: random weights and inputs for any attncc model, for tests that
need no PyTorch model (`attncc debug` only needs the inputs).

usage: attncc MODEL.lua --dump-graph -o /dev/null ... |
       random_reference.py WEIGHTS.safetensors REF.safetensors

Reads the graph dump on stdin and writes every `param` (normal, scaled by
1/sqrt(fan-in)) to WEIGHTS and every `input` to REF: floats normal, integer and bool
inputs 0 or 1 (valid indices and masks for every example), with a fixed seed."""
import json
import re
import struct
import sys

import numpy as np

LINE = re.compile(r"^%\d+ = (param|input) '([^']+)' : (float32|int32|bool)\[([\d,]*)\]")


def save(path, tensors):
    header, blobs, at = {}, [], 0
    for name, array in tensors:
        dtype = {"float32": "F32", "int32": "I32", "bool": "BOOL"}[str(array.dtype)]
        data = array.tobytes()
        header[name] = {"dtype": dtype, "shape": list(array.shape), "data_offsets": [at, at + len(data)]}
        blobs.append(data)
        at += len(data)
    head = json.dumps(header).encode()
    head += b" " * (-len(head) % 8)
    with open(path, "wb") as f:
        f.write(struct.pack("<Q", len(head)) + head + b"".join(blobs))


def main():
    weights_path, ref_path = sys.argv[1:3]
    rng = np.random.default_rng(0)
    weights, inputs = [], []
    for line in sys.stdin:
        m = LINE.match(line)
        if not m:
            continue
        kind, name, dtype, dims = m.groups()
        shape = [int(d) for d in dims.split(",") if d]
        if dtype == "float32":
            fan_in = shape[-1] if shape else 1
            value = (rng.standard_normal(shape) / np.sqrt(fan_in if kind == "param" else 1)).astype(np.float32)
        else:
            value = (rng.random(shape) < 0.9).astype(np.int32 if dtype == "int32" else np.bool_)
        (weights if kind == "param" else inputs).append((name, value))
    save(weights_path, weights)
    save(ref_path, inputs)


if __name__ == "__main__":
    main()
