#!/usr/bin/python3
"""End-to-end cases: each pairs an example Lua model with its PyTorch twin.

A case is
  name      unique name (run_compare.py filters on substrings of it)
  lua       the example file in examples/
  defines   dict passed to attncc as -D NAME=VALUE
  build     () -> torch module, called right after torch.manual_seed(seed)
  inputs    (torch.Generator) -> dict of forward arguments, in forward's order and with
            forward's argument names (= the Lua input() names); None = argument absent
  outputs   output names, in the order forward returns them (= the Lua output() names)

make_module(case) builds the module and then re-initialises every parameter and
persistent buffer with randn * 0.2 (LayerNorm weights, biases and the relative
position bias table too), so that a swapped or mis-named parameter cannot hide
behind PyTorch's default init (zeros, ones, symmetric uniform).

Shapes are small (the whole suite must stay well under 2 minutes on 2 cores);
they include sequence lengths 1, 7 and 129, widths that are not multiples of 8
(20, 36), 3 heads, batch > 1, causal and key-padding masks, valid_lens per
sequence and per query, and fully masked rows where PyTorch's answer is finite.
"""

import dataclasses
import os
import sys
from dataclasses import dataclass, field
from typing import Callable, Dict, List, Optional

import torch

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import models  # noqa: E402
import op_models  # noqa: E402


@dataclass
class Case:
    name: str
    lua: str
    defines: Dict[str, object]
    build: Callable[[], torch.nn.Module]
    inputs: Callable[[torch.Generator], Dict[str, Optional[torch.Tensor]]]
    outputs: List[str]
    seed: int = 0
    call: Optional[Callable] = field(default=None)  # (module, inputs) -> outputs; default module(**inputs)
    fan_in: bool = False  # matrices re-initialised randn / sqrt(fan_in) (reinit_): wide models


def reinit_(module, seed, fan_in=False):
    """Overwrite every parameter and persistent floating-point buffer with randn * 0.2.
    With fan_in, matrices get randn / sqrt(last dim) instead: well-conditioned at any width
    (randn * 0.2 saturates the attention at d=768), as the benchmark wants."""
    gen = torch.Generator().manual_seed(seed + 7919)
    persistent = set(module.state_dict().keys())
    with torch.no_grad():
        for _, p in module.named_parameters():
            scale = p.shape[-1] ** -0.5 if fan_in and p.dim() >= 2 else 0.2
            p.copy_(torch.randn(p.shape, generator=gen) * scale)
        for name, b in module.named_buffers():
            if name in persistent and b.is_floating_point():
                b.copy_(torch.randn(b.shape, generator=gen) * 0.2)
    return module


def make_module(case):
    torch.manual_seed(case.seed)
    m = case.build()
    reinit_(m, case.seed, fan_in=case.fan_in)
    m.eval()
    return m


def make_inputs(case):
    gen = torch.Generator().manual_seed(case.seed + 104729)
    return case.inputs(gen)


# --------------------------------------------------------------------------- input helpers
def randn(gen, *shape):
    return torch.randn(*shape, generator=gen)


def lengths_mask(lengths, L, dtype=torch.int64):
    """[len(lengths), L]: 1 (True) for positions < length, the valid keys."""
    m = torch.arange(L)[None, :] < torch.tensor(lengths)[:, None]
    return m.to(dtype)


def causal(Lq, Lk, dtype=torch.int64):
    """[Lq, Lk]: 1 (True) where key j <= query i (allowed)."""
    return torch.tril(torch.ones(Lq, Lk, dtype=torch.bool)).to(dtype)


# ======================================================================= 1. fc_self_attention
def _fc(B, SEQ, DIM, LAYERS, seed):
    return Case(
        name="fc_self_attention_b%d_s%d_d%d_l%d" % (B, SEQ, DIM, LAYERS),
        lua="fc_self_attention.lua",
        defines=dict(B=B, SEQ=SEQ, DIM=DIM, LAYERS=LAYERS),
        build=lambda: models.FullyConnectedLayer(DIM, LAYERS, 0.1),
        inputs=lambda g: {"x": randn(g, B, SEQ, DIM)},
        outputs=["out"],
        seed=seed,
    )


# ======================================================================= 2. selfattention_einsum
def _sa_mask(N, QLEN, KLEN, MASK, kind):
    if MASK == 0:
        return None
    if MASK == 1:  # [N, 1, 1, KLEN]: key padding; batch n keeps its first KLEN - 2n keys (>= 1)
        lens = [max(1, KLEN - 2 * n) for n in range(N)]
        return lengths_mask(lens, KLEN).reshape(N, 1, 1, KLEN)
    m = causal(QLEN, KLEN).expand(N, QLEN, KLEN).clone()
    if kind == "causal_rowmasked":
        # query row 1 of the last batch sees nothing: every score is -1e20, so PyTorch's
        # softmax is uniform over the keys (finite); attncc must give the same
        m[N - 1, min(1, QLEN - 1), :] = 0
    return m.reshape(N, 1, QLEN, KLEN)


def _sa(N, QLEN, KLEN, EMBED, HEADS, MASK, seed, kind=""):
    return Case(
        name="selfattention_einsum_n%d_q%d_k%d_e%d_h%d_mask%d%s" % (
            N, QLEN, KLEN, EMBED, HEADS, MASK, ("_" + kind) if kind else ""),
        lua="selfattention_einsum.lua",
        defines=dict(N=N, QLEN=QLEN, KLEN=KLEN, EMBED=EMBED, HEADS=HEADS, MASK=MASK),
        build=lambda: models.SelfAttention(EMBED, HEADS),
        inputs=lambda g: {"values": randn(g, N, KLEN, EMBED), "keys": randn(g, N, KLEN, EMBED),
                          "query": randn(g, N, QLEN, EMBED),
                          "mask": _sa_mask(N, QLEN, KLEN, MASK, kind)},
        outputs=["out"],
        seed=seed,
    )


# ======================================================================= 3. transformer_block
def _tb(B, QLEN, KLEN, EMBED, HEADS, EXPANSION, MASK, seed):
    return Case(
        name="transformer_block_b%d_q%d_k%d_e%d_h%d_x%d_mask%d" % (
            B, QLEN, KLEN, EMBED, HEADS, EXPANSION, MASK),
        lua="transformer_block.lua",
        defines=dict(B=B, QLEN=QLEN, KLEN=KLEN, EMBED=EMBED, HEADS=HEADS, EXPANSION=EXPANSION,
                     MASK=MASK),
        build=lambda: models.TransformerBlock(EMBED, HEADS, 0.1, EXPANSION),
        inputs=lambda g: {"value": randn(g, B, KLEN, EMBED), "key": randn(g, B, KLEN, EMBED),
                          "query": randn(g, B, QLEN, EMBED),
                          "mask": _sa_mask(B, QLEN, KLEN, MASK, "") if MASK != 3 else None},
        outputs=["out"],
        seed=seed,
        # MASK 3: the model builds its causal mask itself (a constant the kernel skips by)
        call=(lambda m, d: m(d["value"], d["key"], d["query"], causal(QLEN, KLEN)))
        if MASK == 3 else None,
    )


# ======================================================================= 4. lstm_attention
def _lstm(B, SEQ, EMBED, HIDDEN, LAYERS, CLASSES, seed):
    return Case(
        name="lstm_attention_b%d_s%d_e%d_h%d_l%d_c%d" % (B, SEQ, EMBED, HIDDEN, LAYERS, CLASSES),
        lua="lstm_attention.lua",
        defines=dict(B=B, SEQ=SEQ, EMBED=EMBED, HIDDEN=HIDDEN, LAYERS=LAYERS, CLASSES=CLASSES),
        build=lambda: models.Attention_LSTM_Model(
            models.lstm_config(EMBED, HIDDEN, LAYERS, CLASSES, dropout=0.1 if LAYERS > 1 else 0.0)),
        inputs=lambda g: {"x": randn(g, B, SEQ, EMBED)},
        outputs=["logits", "weights"],
        seed=seed,
    )


# ======================================================================= 5. timesformer_attention
def _tsf(B, T, DIM, HEADS, WITH_QKV, seed, QKV_BIAS=0, QK_SCALE=0):
    d = dict(B=B, T=T, DIM=DIM, HEADS=HEADS, WITH_QKV=WITH_QKV)
    if QKV_BIAS:
        d["QKV_BIAS"] = QKV_BIAS
    if QK_SCALE:
        d["QK_SCALE"] = QK_SCALE
    return Case(
        name="timesformer_attention_b%d_t%d_d%d_h%d_qkv%d%s%s" % (
            B, T, DIM, HEADS, WITH_QKV, "_bias" if QKV_BIAS else "", "_scale" if QK_SCALE else ""),
        lua="timesformer_attention.lua",
        defines=d,
        build=lambda: models.Attention(DIM, num_heads=HEADS, qkv_bias=bool(QKV_BIAS),
                                       qk_scale=QK_SCALE or None, with_qkv=bool(WITH_QKV),
                                       num_ttokens=T),
        inputs=lambda g: {"x": randn(g, B, T, DIM)},
        outputs=["out"],
        seed=seed,
    )


# ======================================================================= 6. d2l_multihead
def _d2l(B, LQ, LK, QS, KS, VS, HIDDENS, HEADS, BIAS, VL, seed, valid_lens=None):
    def inputs(g):
        return {"queries": randn(g, B, LQ, QS), "keys": randn(g, B, LK, KS),
                "values": randn(g, B, LK, VS),
                "valid_lens": None if VL == 0 else torch.tensor(valid_lens, dtype=torch.int64)}
    return Case(
        name="d2l_multihead_b%d_q%d_k%d_hid%d_h%d_bias%d_vl%d" % (B, LQ, LK, HIDDENS, HEADS, BIAS, VL),
        lua="d2l_multihead.lua",
        defines=dict(B=B, LQ=LQ, LK=LK, QUERY_SIZE=QS, KEY_SIZE=KS, VALUE_SIZE=VS, HIDDENS=HIDDENS,
                     HEADS=HEADS, BIAS=BIAS, VALID_LENS_DIMS=VL),
        build=lambda: models.D2LMultiHeadAttention(KS, QS, VS, HIDDENS, HEADS, 0.5, bias=bool(BIAS)),
        inputs=inputs,
        outputs=["out"],
        seed=seed,
    )


# ======================================================================= 7. mha_mask_weights
def _mha_mask(B, LQ, LK, MASK, dtype, kind):
    if MASK == 0:
        return None
    if MASK == 1:  # [B, 1, 1, LK] key padding
        lens = [max(1, LK - 3 * b) for b in range(B)]
        if kind == "allmasked":
            # batch 1 has no valid key at all: every score is -1e9, PyTorch's softmax is
            # uniform over the keys (finite), so are output and attention
            lens[min(1, B - 1)] = 0
        return lengths_mask(lens, LK, dtype).reshape(B, 1, 1, LK)
    m = causal(LQ, LK).expand(B, LQ, LK).clone()
    if kind == "rowmasked":
        m[B - 1, LQ // 2, :] = 0  # one query row sees nothing: uniform weights in PyTorch
    return m.to(dtype).reshape(B, 1, LQ, LK)


def _mha(B, LQ, LK, D_MODEL, HEADS, MASK, seed, MASK_DTYPE="int64", kind=""):
    dtype = torch.bool if MASK_DTYPE == "bool" else torch.int64
    d = dict(B=B, LQ=LQ, LK=LK, D_MODEL=D_MODEL, HEADS=HEADS, MASK=MASK)
    if MASK_DTYPE != "int64":
        d["MASK_DTYPE"] = MASK_DTYPE
    return Case(
        name="mha_mask_weights_b%d_q%d_k%d_d%d_h%d_mask%d%s%s" % (
            B, LQ, LK, D_MODEL, HEADS, MASK, "_" + MASK_DTYPE if MASK else "",
            ("_" + kind) if kind else ""),
        lua="mha_mask_weights.lua",
        defines=d,
        build=lambda: models.MultiHeadAttentionMask(D_MODEL, HEADS),
        inputs=lambda g: {"Q": randn(g, B, LQ, D_MODEL), "K": randn(g, B, LK, D_MODEL),
                          "V": randn(g, B, LK, D_MODEL),
                          "mask": _mha_mask(B, LQ, LK, MASK, dtype, kind)},
        outputs=["output", "attention"],
        seed=seed,
    )


# ======================================================================= 8. torch_mha
def _tmha(B, LQ, LK, EMBED, HEADS, seed, BATCH_FIRST=1, KDIM=0, VDIM=0, BIAS=1,
          KEY_PADDING_MASK=0, ATTN_MASK=0, NEED_WEIGHTS=1, AVERAGE=1):
    kd, vd = KDIM or EMBED, VDIM or EMBED

    def seq(g, L, F):
        return randn(g, B, L, F) if BATCH_FIRST else randn(g, L, B, F)

    def inputs(g):
        kpm = am = None
        if KEY_PADDING_MASK:
            # True = padding; batch b pads its last 2b keys (never all of them: a query row
            # with every key masked by a bool mask is NaN in PyTorch)
            lens = [max(1, LK - 2 * b) for b in range(B)]
            kpm = ~lengths_mask(lens, LK, torch.bool)
        if ATTN_MASK == 1:
            # bool causal mask, True = not allowed (row i sees keys 0..i, so never empty)
            am = ~causal(LQ, LK, torch.bool)
        elif ATTN_MASK == 2:
            # float mask added to the scaled scores: random biases, some -inf entries, and a
            # last row that is -1e30 everywhere: score + -1e30 == -1e30 exactly (in float32 and
            # float64, in any order of operations), so PyTorch's weights are uniform there
            # and finite.  (-1e9 would be uniform in float32 only by rounding; an all -inf
            # row, or an all-True bool row, gives NaN in PyTorch.)
            am = randn(g, LQ, LK) * 0.5
            am[:, LK - 1] = float("-inf")
            am[0, :] = torch.where(torch.arange(LK) == 0, am[0, :], torch.tensor(float("-inf")))
            am[LQ - 1, :] = -1e30
        return {"query": seq(g, LQ, EMBED), "key": seq(g, LK, kd), "value": seq(g, LK, vd),
                "key_padding_mask": kpm, "attn_mask": am}

    d = dict(B=B, LQ=LQ, LK=LK, EMBED=EMBED, HEADS=HEADS, BATCH_FIRST=BATCH_FIRST, KDIM=KDIM,
             VDIM=VDIM, BIAS=BIAS, KEY_PADDING_MASK=KEY_PADDING_MASK, ATTN_MASK=ATTN_MASK,
             NEED_WEIGHTS=NEED_WEIGHTS, AVERAGE=AVERAGE)
    return Case(
        name="torch_mha_b%d_q%d_k%d_e%d_h%d_bf%d%s_kpm%d_am%d_w%d%s" % (
            B, LQ, LK, EMBED, HEADS, BATCH_FIRST, "_kv%d_%d" % (kd, vd) if (KDIM or VDIM) else "",
            KEY_PADDING_MASK, ATTN_MASK, NEED_WEIGHTS, "" if AVERAGE else "_perhead"),
        lua="torch_mha.lua",
        defines=d,
        build=lambda: models.TorchMHA(EMBED, HEADS, batch_first=bool(BATCH_FIRST), bias=bool(BIAS),
                                      kdim=KDIM or None, vdim=VDIM or None,
                                      need_weights=bool(NEED_WEIGHTS),
                                      average_attn_weights=bool(AVERAGE)),
        inputs=inputs,
        outputs=["output", "weights"],  # weights is None (not written) when NEED_WEIGHTS=0
        seed=seed,
    )


# ======================================================================= op-level models
# Not examples: small graphs in tests/e2e/ops/ covering one kind of op in every layout its
# kernel handles (the lua path is relative to examples/, as the examples' are).
def _ops(name, module, inputs, outputs, seed):
    return Case(name="ops_" + name, lua="../tests/e2e/ops/%s.lua" % name, defines={},
                build=module, inputs=inputs, outputs=outputs, seed=seed)


def _ops_reductions(seed):
    return _ops("reductions", op_models.Reductions,
                lambda g: {"x": randn(g, 3, 5, 7), "z": randn(g, 2, 9, 70), "u": randn(g, 4, 33, 130)},
                ["sum_last", "sum_first", "sum_mid_keep", "mean_mid", "amax_first", "sum_wide",
                 "amax_wide", "mean_wide_first", "sum_dims", "count_mid", "sum_split",
                 "amax_split"], seed)


def _ops_skinny(seed):
    return _ops("skinny", op_models.Skinny,
                lambda g: {"x": randn(g, 2, 2000, 40), "r": randn(g, 2, 2000, 3), "v": randn(g, 7, 16)},
                ["score", "three", "eight", "nine", "col", "small"], seed)


def _ops_residual_in_place(seed):
    return _ops("residual_in_place", op_models.ResidualInPlace,
                lambda g: {"x": randn(g, 2, 500, 40), "u": randn(g, 5, 1000), "w": randn(g, 5, 480)},
                ["one_block", "deep", "skinny", "self_residual"], seed)


def _ops_row_groups(seed):
    return _ops("row_groups", op_models.RowGroups, lambda g: {"x": randn(g, 5, 300, 40)},
                ["w", "s"], seed)


def _softmax_mask(g):
    """[4, 20, 33] bool: about a third masked; row (0, 3) and column (1, :, 5) all masked"""
    m = torch.rand(4, 20, 33, generator=g) < 0.3
    m[0, 3, :] = True
    m[1, :, 5] = True
    return m


def _attn_weights_mask(g):
    """[2, 1, 20, 300] bool: about a fifth masked; query row (1, 0, 7) all masked"""
    m = torch.rand(2, 1, 20, 300, generator=g) < 0.2
    m[1, 0, 7, :] = True
    return m


def _ops_attn_weights(seed):
    return _ops("attn_weights", op_models.AttnWeights,
                lambda g: {"q": randn(g, 2, 3, 20, 16), "k": randn(g, 2, 3, 300, 16),
                           "bias": randn(g, 20, 300), "mask": _attn_weights_mask(g)},
                ["swapped", "head_mean"], seed)


def _ops_attn_weights_pv(seed):
    return _ops("attn_weights_pv", op_models.AttnWeightsPV,
                lambda g: {"q": randn(g, 2, 3, 20, 16), "k": randn(g, 2, 3, 300, 16),
                           "v": randn(g, 2, 3, 300, 24), "bias": randn(g, 20, 300),
                           "mask": _attn_weights_mask(g)},
                ["out_swapped", "p_swapped", "out_late", "p_late_sum", "out_early", "early",
                 "out_flat", "p_flat_max", "out_band", "p_band", "p_band_alone"], seed)


def _fold_projection_mask(g):
    """[2, 40, 300] bool: about a fifth masked; query row (0, 11) all masked"""
    m = torch.rand(2, 40, 300, generator=g) < 0.2
    m[0, 11, :] = True
    return m


def _ops_fold_projection(seed):
    return _ops("fold_projection", op_models.FoldProjection,
                lambda g: {"x": randn(g, 2, 40, 24), "kv": randn(g, 2, 300, 24),
                           "mask": _fold_projection_mask(g), "h": randn(g, 2, 40, 3, 8)},
                ["cross", "with_p", "p", "probs", "heads", "heads_plain"], seed)


def _ops_lstm(seed):
    return _ops("lstm", op_models.LstmOps,
                lambda g: {"x": randn(g, 9, 40, 24), "h0": randn(g, 2, 40, 64),
                           "c0": randn(g, 2, 40, 64), "y": randn(g, 3, 6, 24),
                           "z": randn(g, 4, 7, 24), "hz": randn(g, 4, 4, 16),
                           "cz": randn(g, 4, 4, 16), "w": randn(g, 5, 3, 24)},
                ["out", "h_n", "c_n", "plain", "both", "both_h", "both_c", "proj", "proj_h",
                 "proj_c"], seed)


def _ops_softmax(seed):
    return _ops("softmax", op_models.Softmax,
                lambda g: {"x": randn(g, 3, 5, 7), "w": randn(g, 4, 20, 33), "mask": _softmax_mask(g),
                           "u": randn(g, 5, 40, 90)},
                ["last", "first", "mid_log", "last_log", "wide_last", "wide_mid", "wide_log_mid",
                 "fill_last", "sixteen", "big_mid", "big_last_log", "split_last",
                 "split_log_mid"], seed)

CASES = [
    # 1. FullyConnectedLayer (seed 000)
    # (2, 16, 64, LAYERS=2) would be ill-conditioned with randn * 0.2 weights: activations
    # reach ~180, attention saturates, and PyTorch's own float32 result is 10x the tolerance
    # away from float64.  run_compare.py --torch-only checks every case for this.
    _fc(2, 16, 64, 1, seed=1),
    _fc(1, 1, 36, 1, seed=2),
    _fc(3, 7, 20, 3, seed=3),
    # one head, batch 1, 3 blocks of queries: --threads 2 splits the blocks, not the items
    _fc(1, 200, 64, 1, seed=4),
    # 2. SelfAttention with einsum (seed 001)
    _sa(2, 16, 16, 64, 4, MASK=1, seed=10),
    _sa(3, 7, 5, 36, 3, MASK=0, seed=11),
    _sa(2, 7, 7, 20, 4, MASK=2, seed=12, kind="causal_rowmasked"),
    _sa(1, 1, 1, 36, 3, MASK=1, seed=13),
    # 3. TransformerBlock (seed 001)
    _tb(2, 16, 16, 64, 4, 4, MASK=2, seed=20),
    _tb(3, 7, 9, 36, 3, 2, MASK=1, seed=21),
    _tb(1, 1, 1, 20, 4, 1, MASK=0, seed=22),
    # long enough that --threads 2 splits the GEMMs by rows (and the attention by heads)
    _tb(1, 129, 129, 72, 3, 4, MASK=1, seed=23),
    # a constant causal mask: the kernel skips the key blocks it fully masks (4 query
    # blocks x 3 key blocks; with 200 queries over 260 keys the last key block is never read)
    _tb(1, 300, 300, 32, 2, 2, MASK=3, seed=24),
    _tb(2, 200, 260, 32, 2, 1, MASK=3, seed=25),
    # 1030 x 64 (>= 65536 floats): with --threads 2 the LayerNorms split their rows; 256-key
    # blocks with a partial last one (1030 = 4 x 256 + 6)
    _tb(1, 1030, 1030, 64, 4, 1, MASK=0, seed=26),
    # FFN 256 -> 1024: more than one N block, so the GEMM packs A once into its workspace
    # (per thread with --threads 2, which splits the 40 rows)
    _tb(1, 40, 40, 256, 4, 4, MASK=1, seed=27),
    # a head dim above 256: the fused attention reads the queries in place (not staged)
    dataclasses.replace(_tb(2, 30, 300, 264, 1, 1, MASK=1, seed=28), fan_in=True),
    # 4. Attention_LSTM_Model (seed 002)
    _lstm(2, 16, 32, 64, 2, 5, seed=30),
    _lstm(1, 1, 20, 36, 1, 3, seed=31),
    _lstm(3, 7, 36, 20, 3, 7, seed=32),
    _lstm(2, 129, 12, 20, 2, 4, seed=33),
    # each step's input projection read in place by the recurrent GEMM's epilogue; with
    # --threads 2 the 40 rows (and the gate loops over them) are split between the threads,
    # the 4 rows of the second case are not, its 1280 columns are
    _lstm(40, 5, 24, 128, 1, 5, seed=34),
    _lstm(4, 6, 16, 320, 1, 3, seed=35),
    # batch 1: the step's slice is the recurrent GEMM's bias, read in place; 2 threads
    # split the 2048 columns
    _lstm(1, 3, 8, 512, 1, 3, seed=36),
    # 5. TimeSformer Attention with relative position bias (seed 003)
    _tsf(2, 8, 64, 4, WITH_QKV=1, seed=40),
    _tsf(3, 7, 36, 3, WITH_QKV=0, seed=41),
    _tsf(1, 1, 20, 4, WITH_QKV=1, seed=42, QKV_BIAS=1, QK_SCALE=0.3),
    _tsf(2, 16, 20, 2, WITH_QKV=0, seed=43),
    # 6. d2l MultiHeadAttention (seed 003)
    _d2l(2, 8, 12, 20, 24, 28, 64, 4, BIAS=0, VL=1, seed=50, valid_lens=[3, 12]),
    _d2l(3, 7, 5, 20, 12, 36, 36, 3, BIAS=1, VL=2, seed=51,
         # per query; 0 = no valid key (score -1e6 everywhere: uniform weights in PyTorch),
         # 9 > LK = no masking
         valid_lens=[[1, 2, 3, 4, 5, 5, 5], [0, 0, 1, 1, 2, 2, 3], [5, 4, 9, 2, 1, 0, 3]]),
    _d2l(1, 1, 1, 20, 20, 20, 20, 4, BIAS=0, VL=0, seed=52),
    _d2l(2, 7, 9, 36, 20, 20, 36, 3, BIAS=1, VL=1, seed=53, valid_lens=[0, 4]),
    # 7. MultiHeadAttention(d_model, num_heads) returning attention (seed 003)
    _mha(2, 16, 16, 64, 4, MASK=2, seed=60, kind="rowmasked"),
    _mha(3, 7, 9, 36, 3, MASK=1, seed=61, MASK_DTYPE="bool", kind="allmasked"),
    _mha(1, 1, 1, 20, 2, MASK=0, seed=62),
    _mha(1, 129, 129, 20, 4, MASK=2, seed=63),
    # big enough that --threads 2 splits the score and value products' 8 batch items (and
    # the softmax's rows) between the threads
    _mha(2, 64, 80, 128, 4, MASK=1, seed=64),
    # one head: --threads 2 splits blocks of queries (batch 3: an item's blocks on both threads)
    _mha(1, 200, 150, 32, 1, MASK=2, seed=66),
    _mha(3, 100, 100, 48, 1, MASK=1, seed=67),
    # a head dim above 256: the attention-weights kernel reads the queries in place (not
    # staged; also with 300 keys, two key blocks, below); weights randn / sqrt(fan_in), as
    # randn * 0.2 saturates the attention at these widths
    dataclasses.replace(_mha(1, 10, 12, 264, 1, MASK=1, seed=65), fan_in=True),
    # 8. torch.nn.MultiheadAttention (seed 004)
    _tmha(2, 16, 16, 64, 4, seed=70, BATCH_FIRST=1, KEY_PADDING_MASK=1),
    _tmha(3, 7, 7, 36, 3, seed=71, BATCH_FIRST=0, KEY_PADDING_MASK=1, ATTN_MASK=1),
    _tmha(2, 5, 9, 20, 4, seed=72, BATCH_FIRST=1, KDIM=12, VDIM=28, ATTN_MASK=2, AVERAGE=0),
    _tmha(1, 1, 1, 20, 2, seed=73, BATCH_FIRST=0, BIAS=0, NEED_WEIGHTS=0),
    # --threads 2: 9 batch items of the score and value products split 5 + 4, the mean of
    # the weights over heads split by batch (2 + 1)
    _tmha(3, 60, 70, 96, 3, seed=74, BATCH_FIRST=1, KEY_PADDING_MASK=1),
    dataclasses.replace(_tmha(2, 9, 300, 264, 1, seed=75, KEY_PADDING_MASK=1), fan_in=True),
]


# ======================================================================= numerics
# Logits of about +-1e4 (2e4 to 4e4 at most): the query and key inputs scaled by 100 or
# 200 (scores grow with the square). Softmax must stay finite and match PyTorch, through the plain softmax (the
# weights are outputs) and the fused attention, with -1e9 / -1e6 / -1e20 fills and with
# -inf masks, including fully masked rows (uniform weights with fills, NaN with -inf).
def _large_logits(case, names, fully_masked_kpm=False, scale=100.0):
    base = case.inputs

    def inputs(g):
        d = base(g)
        for n in names:
            d[n] = d[n] * scale
        if fully_masked_kpm:  # the last batch pads every key: NaN rows, in PyTorch and attncc
            d["key_padding_mask"][-1, :] = True
        return d
    return dataclasses.replace(case, name=case.name + "_logits1e4" + ("_nanrows" if fully_masked_kpm else ""),
                               inputs=inputs)


CASES += [
    # plain softmax, masked_fill(mask == 0, -1e9), one batch without any valid key
    _large_logits(_mha(2, 7, 9, 20, 2, MASK=1, seed=80, kind="allmasked"), ["Q", "K"]),
    _large_logits(_mha(2, 7, 7, 36, 3, MASK=2, seed=81, kind="rowmasked"), ["Q", "K"]),
    # plain softmax, -inf masks: float attn_mask with -inf entries, bool key padding
    _large_logits(_tmha(2, 7, 7, 20, 2, seed=82, KEY_PADDING_MASK=1, ATTN_MASK=2),
                  ["query", "key"], fully_masked_kpm=True),
    # fused attention, -inf masks (bool causal mask and key padding)
    _large_logits(_tmha(2, 7, 7, 20, 2, seed=83, KEY_PADDING_MASK=1, ATTN_MASK=1, NEED_WEIGHTS=0),
                  ["query", "key"], fully_masked_kpm=True),
    # fused attention, fills: -1e20 (a query row without keys) and d2l's -1e6 (valid_lens 0)
    _large_logits(_sa(2, 7, 7, 20, 4, MASK=2, seed=84, kind="causal_rowmasked"), ["query", "keys"],
                  scale=200.0),
    _large_logits(_d2l(3, 7, 5, 20, 12, 36, 36, 3, BIAS=1, VL=2, seed=85,
                       valid_lens=[[1, 2, 3, 4, 5, 5, 5], [0, 0, 1, 1, 2, 2, 3], [5, 4, 9, 2, 1, 0, 3]]),
                  ["queries", "keys"]),
]

CASES += [_ops_reductions(seed=90), _ops_skinny(seed=91), _ops_softmax(seed=92),
          _ops_attn_weights(seed=93), _ops_attn_weights_pv(seed=94),
          _ops_fold_projection(seed=95), _ops_residual_in_place(seed=96),
          _ops_row_groups(seed=97), _ops_lstm(seed=98)]

_names = [c.name for c in CASES]
assert len(_names) == len(set(_names)), "duplicate case names"
