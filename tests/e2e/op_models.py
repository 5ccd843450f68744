#!/usr/bin/python3
"""PyTorch twins of the op-level models in tests/e2e/ops/*.lua: small graphs that exercise
one kind of op in every layout its kernel handles (the examples cover the ops they use in
one layout each). Runs only under /usr/bin/python3 (the interpreter that has torch 1.13)."""

import torch
import torch.nn as nn
import torch.nn.functional as F


class Reductions(nn.Module):
    """tests/e2e/ops/reductions.lua"""

    def forward(self, x, z, u):
        return (x.sum(-1), x.sum(0), x.sum(1, keepdim=True), x.mean(1), x.amax(0),
                z.sum(1), z.amax(1), z.mean(0), x.sum((0, 2)), (x > 0).sum(1), u.sum(-1), u.amax(1))


class Skinny(nn.Module):
    """tests/e2e/ops/skinny.lua"""

    def __init__(self):
        super().__init__()
        self.score = nn.Linear(40, 1)
        self.three = nn.Linear(40, 3)
        self.eight = nn.Linear(40, 8, bias=False)
        self.nine = nn.Linear(40, 9)
        self.col = nn.Parameter(torch.empty(16, 1))
        self.small = nn.Linear(16, 5)

    def forward(self, x, r, v):
        return (torch.relu(self.score(x)), self.three(x) + r, F.gelu(self.eight(x)), self.nine(x),
                torch.matmul(v, self.col), self.small(v))


class ResidualInPlace(nn.Module):
    """tests/e2e/ops/residual_in_place.lua"""

    def __init__(self):
        super().__init__()
        self.wide = nn.Linear(40, 40)
        self.deep = nn.Linear(1000, 480)
        self.three = nn.Linear(40, 3)
        self.same = nn.Linear(40, 40, bias=False)

    def forward(self, x, u, w):
        h = torch.relu(x)
        one_block = self.wide(h) + torch.tanh(x)
        deep = self.deep(torch.relu(u)) + torch.tanh(w)
        skinny = torch.relu(self.three(h)) + torch.tanh(x).narrow(2, 0, 3) * 2
        t = torch.tanh(x) * 3
        self_residual = self.same(t) + t
        return torch.tanh(one_block), torch.tanh(deep), torch.tanh(skinny), torch.tanh(self_residual)


class RowGroups(nn.Module):
    """tests/e2e/ops/row_groups.lua"""

    def __init__(self):
        super().__init__()
        self.a = nn.Linear(40, 64)
        self.b = nn.Linear(32, 40)
        self.c = nn.Linear(40, 40)

    def forward(self, x):
        h = self.a(x)
        g = torch.sigmoid(h.narrow(2, 0, 32)) * torch.tanh(h.narrow(2, 32, 32))
        r = torch.tanh(x) * 0.5
        y = self.b(g) + r
        z = self.c(torch.relu(y)) + y
        first = z.narrow(0, 0, 1)
        w = z * first
        return torch.tanh(w), y.narrow(2, 8, 16) * 2


class Softmax(nn.Module):
    """tests/e2e/ops/softmax.lua"""

    def forward(self, x, w, mask, u):
        wm = w.masked_fill(mask, float("-inf"))
        return (torch.softmax(x, -1), torch.softmax(x, 0), x.log_softmax(1), x.log_softmax(-1),
                torch.softmax(wm, -1), torch.softmax(wm, 1), wm.log_softmax(1),
                torch.softmax(w.masked_fill(mask, -1e9), -1), torch.softmax(w.narrow(2, 0, 16), -1),
                torch.softmax(w * 100, 1), (w * 100).log_softmax(-1), torch.softmax(u, -1),
                u.log_softmax(1))


class AttnWeightsPV(nn.Module):
    """tests/e2e/ops/attn_weights_pv.lua"""

    def forward(self, q, k, v, bias, mask):
        def scores(c):
            return (q @ k.transpose(-2, -1) * c + bias).masked_fill(mask, float("-inf"))
        p = torch.softmax(scores(25), -1)
        p_late = torch.softmax(scores(0.25), -1)
        v_late = v * 2 + 1
        p_early = torch.softmax(scores(1), -1)
        early = p_early.amax(-1)
        v_early = v - early.mean(-1, True).unsqueeze(-1)
        p_flat = torch.softmax(scores(0.5), -1)
        ones = torch.ones(20, 300)
        band = (torch.tril(ones, 150) * torch.triu(ones, 130)) == 0

        def banded(c):
            return (q @ k.transpose(-2, -1) * c).masked_fill(band, -1e9)
        p_band = torch.softmax(banded(0.5), -1)
        return ((p @ v).permute(0, 2, 1, 3), p.permute(0, 2, 1, 3), p_late @ v_late,
                p_late.sum(1), p_early @ v_early, early,
                p_flat.reshape(6, 20, 300) @ v.reshape(6, 300, 24), p_flat.amax(1),
                p_band @ v, p_band, torch.softmax(banded(2), -1))


class LstmOps(nn.Module):
    """tests/e2e/ops/lstm.lua"""

    def __init__(self):
        super().__init__()
        self.seq = nn.LSTM(24, 64, num_layers=2)
        self.plain = nn.LSTM(24, 20, bias=False, batch_first=True)
        self.both = nn.LSTM(24, 16, num_layers=2, bidirectional=True, batch_first=True)
        self.proj = nn.LSTM(24, 20, num_layers=2, bidirectional=True, proj_size=8)

    def forward(self, x, h0, c0, y, z, hz, cz, w):
        out, (h_n, c_n) = self.seq(x, (h0, c0))
        plain, _ = self.plain(y)
        both, (both_h, both_c) = self.both(z, (hz, cz))
        proj, (proj_h, proj_c) = self.proj(w)
        return out, h_n, c_n, plain, both, both_h, both_c, proj, proj_h, proj_c


class FoldProjection(nn.Module):
    """tests/e2e/ops/fold_projection.lua"""

    def __init__(self):
        super().__init__()
        self.q = nn.Linear(24, 24, bias=False)
        self.k = nn.Linear(24, 24, bias=False)
        self.v = nn.Linear(24, 24, bias=False)
        self.o = nn.Linear(24, 10)
        self.hq = nn.Linear(8, 8, bias=False)
        self.hk = nn.Linear(8, 8, bias=False)
        self.hv = nn.Linear(8, 8, bias=False)
        self.ho = nn.Linear(24, 24)
        self.pq = nn.Parameter(torch.empty(8, 8))
        self.pk = nn.Parameter(torch.empty(8, 8))
        self.pv = nn.Parameter(torch.empty(8, 8))
        self.po = nn.Parameter(torch.empty(24, 24))

    def forward(self, x, kv, mask, h):
        def scores(c):
            return self.q(x) @ self.k(kv).transpose(-2, -1) * c
        cross = self.o(torch.softmax(scores(0.2).masked_fill(mask, float("-inf")), -1) @ self.v(kv))
        p = torch.softmax(scores(0.5), -1)
        with_p = self.o(p @ self.v(kv))
        probs = torch.softmax(scores(0.25), -1)

        def heads(t):
            return t.permute(0, 2, 1, 3)
        e = heads(self.hq(h)) @ heads(self.hk(h)).transpose(-2, -1) / 8
        merged = heads(torch.softmax(e, -1) @ heads(self.hv(h))).reshape(2, 40, 24)
        ep = heads(h @ self.pq) @ heads(h @ self.pk).transpose(-2, -1) / 8
        plain = heads(torch.softmax(ep, -1) @ heads(h @ self.pv)).reshape(2, 40, 24)
        return cross, with_p, p, probs, self.ho(merged), plain @ self.po


class AttnWeights(nn.Module):
    """tests/e2e/ops/attn_weights.lua"""

    def forward(self, q, k, bias, mask):
        def scores(c):
            return q @ k.transpose(-2, -1) * c + bias
        return (torch.softmax(scores(25), -1).permute(0, 2, 1, 3),
                torch.softmax(scores(0.25).masked_fill(mask, float("-inf")), -1).mean(1))
