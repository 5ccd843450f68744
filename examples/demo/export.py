#!/usr/bin/python3
"""export.py: the PyTorch side of `make demo`. Builds seed 001's TransformerBlock in
PyTorch (tests/e2e/models.py), and writes its weights and one reference input/output
pair as .safetensors with tools/attncc_ref.py.  usage: export.py OUTDIR SEQ EMBED HEADS"""
import os
import sys

import torch

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
sys.path.insert(0, os.path.join(ROOT, "tools"))
sys.path.insert(0, os.path.join(ROOT, "tests", "e2e"))
from attncc_ref import export_reference  # noqa: E402
import models  # noqa: E402

out, seq, embed, heads = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4])
torch.manual_seed(0)
block = models.TransformerBlock(embed, heads, 0.1, 4)
x = torch.randn(1, seq, embed)
mask = torch.ones(1, 1, 1, seq, dtype=torch.int64)
mask[..., seq - seq // 4:] = 0  # the last quarter of the keys is padding
export_reference(block, {"value": x, "key": x, "query": x, "mask": mask},
                 os.path.join(out, "weights.safetensors"), os.path.join(out, "ref.safetensors"),
                 ["out"])
print("demo: PyTorch TransformerBlock(%d, %d) weights and reference written to %s" % (embed, heads, out))
