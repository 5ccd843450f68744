#!/usr/bin/python3
"""encoder_ref.py: random weights (and, optionally, a PyTorch reference) for
examples/encoder.lua, the twin of torch.nn.TransformerEncoder(TransformerEncoderLayer(
EMBED, HEADS, FFN, dropout=0, batch_first=True), LAYERS).

usage: /usr/bin/python3 tests/big/encoder_ref.py OUT_DIR [--layers N] [--seq S] [--embed D]
                                                [--heads H] [--ffn F] [--no-ref]

Writes OUT_DIR/weights.safetensors (the state_dict: 85,054,464 floats, 340 MB, for the
default 12 layers at d=768; never commit it) and, unless --no-ref, OUT_DIR/ref.safetensors
with a random input x [1, S, D] and the module's output y, for `attncc check`. Matrices
are randn / sqrt(fan_in) and LayerNorm weights 1 + 0.1 randn, so the activations stay
well-conditioned at any depth. Seeded: the same arguments give the same files.
"""

import argparse
import os
import sys

import torch

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "tools"))
from attncc_ref import export_reference, save_safetensors  # noqa: E402


def build(layers, embed, heads, ffn):
    torch.manual_seed(0)
    layer = torch.nn.TransformerEncoderLayer(embed, heads, ffn, dropout=0.0, batch_first=True)
    model = torch.nn.TransformerEncoder(layer, layers, enable_nested_tensor=False)
    gen = torch.Generator().manual_seed(1234)
    with torch.no_grad():
        for name, p in model.named_parameters():
            if p.dim() >= 2:
                p.copy_(torch.randn(p.shape, generator=gen) * p.shape[-1] ** -0.5)
            elif "norm" in name and name.endswith("weight"):
                p.copy_(1 + 0.1 * torch.randn(p.shape, generator=gen))
            else:
                p.copy_(0.1 * torch.randn(p.shape, generator=gen))
    return model.eval()


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("out_dir")
    ap.add_argument("--layers", type=int, default=12)
    ap.add_argument("--seq", type=int, default=128)
    ap.add_argument("--embed", type=int, default=768)
    ap.add_argument("--heads", type=int, default=12)
    ap.add_argument("--ffn", type=int, default=None)
    ap.add_argument("--no-ref", action="store_true")
    a = ap.parse_args()
    model = build(a.layers, a.embed, a.heads, a.ffn or 4 * a.embed)
    os.makedirs(a.out_dir, exist_ok=True)
    weights = os.path.join(a.out_dir, "weights.safetensors")
    nparams = sum(p.numel() for p in model.parameters())
    if a.no_ref:
        save_safetensors(weights, {k: v.contiguous() for k, v in model.state_dict().items()})
    else:
        x = torch.randn(1, a.seq, a.embed, generator=torch.Generator().manual_seed(5))
        export_reference(model, {"x": x}, weights, os.path.join(a.out_dir, "ref.safetensors"),
                         ["y"], call=lambda m, d: m(d["x"]))
    print("encoder_ref: %d layers, d=%d: %d parameters -> %s" % (a.layers, a.embed, nparams, weights))


if __name__ == "__main__":
    main()
