#!/usr/bin/python3
"""PyTorch twins of the op-level models in tests/e2e/ops/*.lua: small graphs that exercise
one kind of op in every layout its kernel handles (the examples cover the ops they use in
one layout each). Runs only under /usr/bin/python3 (the interpreter that has torch 1.13)."""

import torch
import torch.nn as nn


class Reductions(nn.Module):
    """tests/e2e/ops/reductions.lua"""

    def forward(self, x, z):
        return (x.sum(-1), x.sum(0), x.sum(1, keepdim=True), x.mean(1), x.amax(0),
                z.sum(1), z.amax(1), z.mean(0), x.sum((0, 2)), (x > 0).sum(1))
