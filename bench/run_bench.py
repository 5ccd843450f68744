#!/usr/bin/python3
"""attncc benchmark: the compiled C of each case against PyTorch (and numpy for GEMMs).

usage: /usr/bin/python3 bench/run_bench.py [--quick] [--threads 1,2] [--filter SUBSTRING ...]
                                           [--list] [-v] [other options below]
       make bench [BENCH_ARGS="--quick --threads 1"]

For every case (a model of examples/*.lua or bench/models/*.lua at fixed defines):
  1. build its PyTorch twin (tests/e2e/models.py, seeded; parameters re-initialised with
     randn / sqrt(fan_in)), run it once and write weights.safetensors and ref.safetensors
     with tools/attncc_ref.py (the inputs and the expected outputs);
  2. PyTorch timing, in a worker subprocess whose environment has OPENBLAS_CORETYPE and
     OPENBLAS_L2_SIZE removed (they force a slower OpenBLAS kernel); the worker loads the
     same weights and inputs from those files, warms up, and takes the median of
     adaptively many runs (~TARGET seconds, at least MIN_RUNS); for the GEMM cases it
     also times numpy.dot on the same arrays;
  3. attncc timing: `attncc check MODEL --weights W --ref R -D ... ATTNCC_EXTRA
     --repeat MIN_RUNS --keep DIR` checks the outputs against the reference (PASS/FAIL;
     a FAIL is still timed and reported; ERROR = no time, e.g. the C did not build) and
     times MIN_RUNS runs; when those took less than ~0.6 x TARGET, DIR/check (the
     program attncc built) runs again with --repeat N for ~TARGET seconds (falling back
     to a second `attncc check --repeat N` if that fails).
Cases run one after the other, each at every thread count in turn (a program built
with the same attncc flags for another thread count is run again, not rebuilt); the
tables are printed at the end, then the performance targets (bench/targets.py: each
target whose cases ran, its figure, held or missed by how much).  The peak is measured
in the same run by bench/peak_fma.c (independent FMA chains; AVX-512 when -march=native has it) before,
between and after the cases, with 1 thread and with T threads for the T-thread table.
Two percentages: %peak (peak_pct) is against the peak measured right before and right
after that case's attncc timing (the higher of the two): the clock of this shared
machine moves with the load on the other core (1-thread FMA peaks seen here: 106-131
GFLOP/s in one run), so the peak next to the case is the one it ran under; %best
(peak_best_pct) is against the best measurement of the whole run, which is higher or
equal.

Output: per thread count, a table, then one machine-readable line per case:
  BENCH case=NAME attncc_ms=MEDIAN torch_ms=MEDIAN speedup=TORCH/ATTNCC gflops=ATTNCC
        peak_pct=PCT threads=T check=PASS|FAIL|ERROR gflop=WORK [numpy_ms=MEDIAN]
        peak_gflops=ADJACENT_PEAK peak_best_pct=PCT
(one line; missing values are `nan`). gflops counts the model's matmul FLOPs only
(2*M*N*K per product, attention QK^T and PV included), analytically per case.
Exits 1 when a case is FAIL or ERROR (after printing everything), 2 on a setup error.

options:
  --quick              a smoke test: a subset of the cases (unless --filter is given),
                       target 0.15 s per side and at least 3 runs
  --threads LIST       comma-separated thread counts, one table each (default 1,2);
                       torch.set_num_threads(T) and OMP_NUM_THREADS=T for both sides
  --filter SUBSTRING   only cases whose name contains it (repeatable, or a,b); selects
                       from all cases, also with --quick
  --target-seconds S   time to spend timing each case on each side (default 1.0)
  --min-runs N         at least N timed runs per side (default 5)
  --rounds R           split each side's timing into R alternating rounds, PyTorch then
                       attncc, each ~S/R seconds (default 3, 1 with --quick): both sides
                       sample the same stretches of this shared machine's clock; the
                       median of the round medians is reported
  --runtime-weights    attncc check --runtime-weights (weights loaded at run time instead
                       of embedded in the C: much faster to compile for the big cases);
                       the prepared variant is timed (weights packed and seed 001's
                       projections folded once by PREFIX_prepare, as an application
                       that loads them would run it; power-of-two scales fold into
                       embedded weights only)
  --attncc-flags STR   replaces ATTNCC_EXTRA below, e.g. --attncc-flags '' or
                       --attncc-flags '--target avx2 --threads {threads}'
  --odd-shapes         instead of the issue's cases, the examples at shapes a user might
                       bring (odd lengths, batches, widths, masks, attention weights as an
                       output): no shape should fall off a cliff against PyTorch; --filter
                       and --list select from these
  --list               print the cases (name, model, defines, GFLOP) and exit
  --keep               keep the temporary directory (printed)
  -v                   print every attncc command line and its output

environment: PYTHON (interpreter with torch, default /usr/bin/python3; the script
re-executes itself with it), ATTNCC (default ./attncc), CC (for peak_fma, default clang).
"""

import os
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
sys.path.insert(0, os.path.join(ROOT, "tools"))
from torch_python import require_torch  # noqa: E402  (tools/torch_python.py)

require_torch(__file__)  # re-executes this script with $PYTHON when torch does not import
import torch  # noqa: E402

import ctypes  # noqa: E402
import gc  # noqa: E402
import json  # noqa: E402
import math  # noqa: E402
import re  # noqa: E402
import shlex  # noqa: E402
import shutil  # noqa: E402
import statistics  # noqa: E402
import subprocess  # noqa: E402
import tempfile  # noqa: E402
import time  # noqa: E402
from dataclasses import dataclass  # noqa: E402
from typing import Callable, Dict, List, Optional  # noqa: E402

sys.path.insert(0, os.path.join(ROOT, "tests", "e2e"))
import attncc_ref  # noqa: E402
import cases as E  # noqa: E402  (tests/e2e/cases.py: how each example is driven)
import targets  # noqa: E402  (bench/targets.py: the performance issue's targets)

# ---------------------------------------------------------------------------------------
# Extra flags for every `attncc check` of the benchmark.  "{threads}" is replaced by the
# table's thread count.  Flags that `attncc --help` does not mention are dropped (with a
# note in the header), so the list can name options before they exist; --attncc-flags
# replaces the list (and is passed as given).
ATTNCC_EXTRA = ["--target", "native", "--threads", "{threads}"]
# removed from the PyTorch worker's environment only (they select a slower OpenBLAS core)
BLAS_ENV_DROP = ("OPENBLAS_CORETYPE", "OPENBLAS_L2_SIZE")
TOL = "1e-4"  # attncc check's default tolerance, passed again to the re-run program
# ---------------------------------------------------------------------------------------


# ======================================================================= FLOP counts
# matmul FLOPs only: 2*M*N*K per product (Linear layers, attention QK^T and PV, LSTM gates)

def flops_block(B, Q, K, E_, H, X, ffn=True, causal=False):
    """transformer_block.lua / selfattention_einsum.lua: per-head hd x hd projections of
    values, keys and queries, QK^T and PV per head, fc_out, and (block) the FFN.
    causal: only the unmasked (query, key) pairs count (Q = K: Q (Q + 1) / 2 of Q K)."""
    hd = E_ // H
    pairs = Q * (Q + 1) // 2 if causal else Q * K
    f = 2 * B * (K + K + Q) * H * hd * hd      # values, keys, queries (shared hd x hd)
    f += 2 * (2 * B * H * pairs * hd)          # energy = QK^T, attention @ V
    f += 2 * B * Q * E_ * E_                   # fc_out
    if ffn:
        f += 2 * (2 * B * Q * E_ * X * E_)     # Linear(E, X*E), Linear(X*E, E)
    return f


def flops_fc(B, S, D, L):
    """fc_self_attention.lua: per layer q/k/v Linear(D, D), QK^T, PV, FFN D -> 4D -> D."""
    per = 3 * 2 * B * S * D * D + 2 * (2 * B * S * S * D) + 2 * (2 * B * S * D * 4 * D)
    return L * per


def flops_lstm(B, S, EMB, HID, L, C):
    """lstm_attention.lua: LSTM gates (x W_ih^T + h W_hh^T, 4*HID wide) per step and layer,
    the pooling projection HID -> 64 -> 1, and fc HID -> C (the weighted sum is no matmul)."""
    f = 0
    for layer in range(L):
        inp = EMB if layer == 0 else HID
        f += 2 * B * S * 4 * HID * (inp + HID)
    f += 2 * B * S * HID * 64 + 2 * B * S * 64 * 1
    f += 2 * B * HID * C
    return f


def flops_tsf(B, T, DIM, H, with_qkv=True):
    """timesformer_attention.lua: qkv Linear(DIM, 3 DIM), QK^T, PV, proj Linear(DIM, DIM)."""
    f = 2 * (2 * B * T * T * DIM)  # summed over heads: H * T * T * (DIM / H)
    if with_qkv:
        f += 2 * B * T * DIM * 3 * DIM + 2 * B * T * DIM * DIM
    return f


def flops_d2l(B, LQ, LK, QS, KS, VS, HID, H):
    return (2 * B * LQ * QS * HID + 2 * B * LK * KS * HID + 2 * B * LK * VS * HID
            + 2 * (2 * B * LQ * LK * HID) + 2 * B * LQ * HID * HID)


def flops_mha(B, LQ, LK, D, H, kdim=None, vdim=None):
    """mha_mask_weights.lua / torch_mha.lua: q, k, v, out projections, QK^T, PV."""
    kd, vd = kdim or D, vdim or D
    return (2 * B * LQ * D * D + 2 * B * LK * kd * D + 2 * B * LK * vd * D
            + 2 * (2 * B * LQ * LK * D) + 2 * B * LQ * D * D)


# ======================================================================= cases
class MatMul(torch.nn.Module):
    """PyTorch twin of bench/models/matmul.lua: y = x @ weight, weight [K, N]."""

    def __init__(self, k, n):
        super().__init__()
        self.weight = torch.nn.Parameter(torch.empty(k, n))

    def forward(self, x):
        return torch.matmul(x, self.weight)


@dataclass
class BenchCase:
    name: str
    lua: str                      # model file, relative to the repository root
    defines: Dict[str, object]
    build: Callable[[], torch.nn.Module]
    inputs: Callable[[torch.Generator], Dict[str, Optional[torch.Tensor]]]
    outputs: List[str]
    flops: int
    seed: int = 0
    call: Optional[Callable] = None  # (module, inputs) -> outputs; default module(**inputs)
    quick: bool = False              # in the --quick subset
    gemm: bool = False               # also timed with numpy.dot(x, weight)
    default_shape: bool = False      # defines must equal the model file's defaults
    odd: bool = False                # in the --odd-shapes group (not the default run)


def _from_e2e(name, c, flops, quick=False, default_shape=False, odd=False):
    return BenchCase(name=name, lua="examples/" + c.lua, defines=dict(c.defines), build=c.build,
                     inputs=c.inputs, outputs=list(c.outputs), flops=flops, seed=c.seed,
                     call=c.call, quick=quick, default_shape=default_shape, odd=odd)


def _gemm(M, K, N, quick=False):
    return BenchCase(
        name="gemm_m%d_k%d_n%d" % (M, K, N), lua="bench/models/matmul.lua",
        defines=dict(M=M, K=K, N=N), build=lambda: MatMul(K, N),
        inputs=lambda g: {"x": torch.randn(M, K, generator=g)}, outputs=["y"],
        flops=2 * M * N * K, seed=900 + M, call=lambda m, d: torch.matmul(d["x"], m.weight),
        quick=quick, gemm=True)


def all_cases():
    cs = []
    # post-norm transformer block, batch 1, FFN 4x, no mask
    for d, h, seqs in ((256, 8, (64, 128, 512, 1024)), (768, 12, (128, 512))):
        for s in seqs:
            cs.append(_from_e2e("block_d%d_h%d_s%d" % (d, h, s),
                                E._tb(1, s, s, d, h, 4, MASK=0, seed=100 + s),
                                flops_block(1, s, s, d, h, 4), quick=(d == 256 and s == 64)))
    # the d=256 block with a causal mask built in the model (a constant): attncc skips the
    # key blocks the mask hides; the GFLOP/s count only the unmasked pairs
    for s in (512, 1024):
        cs.append(_from_e2e("block_causal_d256_h8_s%d" % s, E._tb(1, s, s, 256, 8, 4, MASK=3, seed=150 + s),
                            flops_block(1, s, s, 256, 8, 4, causal=True)))
    # every example at its default shape (the e2e case with the example's default defines)
    ex = [
        ("fc_self_attention", E._fc(2, 16, 64, 2, seed=1), flops_fc(2, 16, 64, 2)),
        ("selfattention_einsum", E._sa(2, 16, 16, 64, 4, MASK=1, seed=10),
         flops_block(2, 16, 16, 64, 4, 0, ffn=False)),
        ("transformer_block", E._tb(2, 16, 16, 64, 4, 4, MASK=1, seed=20),
         flops_block(2, 16, 16, 64, 4, 4)),
        ("lstm_attention", E._lstm(2, 16, 32, 64, 2, 5, seed=30), flops_lstm(2, 16, 32, 64, 2, 5)),
        ("timesformer_attention", E._tsf(2, 8, 64, 4, WITH_QKV=1, seed=40), flops_tsf(2, 8, 64, 4)),
        ("d2l_multihead", E._d2l(2, 8, 12, 20, 24, 28, 64, 4, BIAS=0, VL=1, seed=50,
                                 valid_lens=[3, 12]),
         flops_d2l(2, 8, 12, 20, 24, 28, 64, 4)),
        ("mha_mask_weights", E._mha(2, 16, 16, 64, 4, MASK=2, seed=60), flops_mha(2, 16, 16, 64, 4)),
        ("torch_mha", E._tmha(2, 16, 16, 64, 4, seed=70, BATCH_FIRST=1, KEY_PADDING_MASK=1),
         flops_mha(2, 16, 16, 64, 4)),
    ]
    for name, c, f in ex:
        cs.append(_from_e2e("ex_" + name, c, f, quick=name in ("transformer_block", "torch_mha"),
                            default_shape=True))
    # TimeSformer-style MHA with relative position bias at 196 tokens (ViT-B width)
    cs.append(_from_e2e("timesformer_t196_d768_h12", E._tsf(1, 196, 768, 12, WITH_QKV=1, seed=41),
                        flops_tsf(1, 196, 768, 12)))
    # LSTM + attention pooling (the example's EMBED 32, HIDDEN 64, 2 layers, 5 classes)
    for b in (1, 64):
        for s in (11, 128):
            cs.append(_from_e2e("lstm_b%d_s%d" % (b, s), E._lstm(b, s, 32, 64, 2, 5, seed=300 + b + s),
                                flops_lstm(b, s, 32, 64, 2, 5), quick=(b == 1 and s == 11)))
    # GEMMs (M x K) x (K x N)
    cs.append(_gemm(128, 256, 768, quick=True))
    cs.append(_gemm(512, 768, 3072))
    cs.append(_gemm(128, 64, 128, quick=True))
    cs += odd_shape_cases()
    names = [c.name for c in cs]
    assert len(names) == len(set(names)), "duplicate case names"
    return cs


def odd_shape_cases():
    """--odd-shapes: the examples at shapes a user might bring rather than the issue's (odd
    sequence lengths, batches, widths; masks; models that output their attention weights,
    which are not fused): a check that no shape falls off a cliff against PyTorch, on 1 or
    more threads. Not in the default run."""
    def odd(name, c, flops):
        cs.append(_from_e2e("odd_" + name, c, flops, odd=True))
    cs = []
    odd("block_d512_h8_s100", E._tb(1, 100, 100, 512, 8, 4, MASK=0, seed=501), flops_block(1, 100, 100, 512, 8, 4))
    odd("block_d384_h6_s197_b2", E._tb(2, 197, 197, 384, 6, 4, MASK=0, seed=502),
        flops_block(2, 197, 197, 384, 6, 4))
    odd("block_d256_h4_s77_b3_pad", E._tb(3, 77, 77, 256, 4, 4, MASK=1, seed=503),
        flops_block(3, 77, 77, 256, 4, 4))
    odd("block_d64_h4_s33_b8", E._tb(8, 33, 33, 64, 4, 4, MASK=0, seed=504), flops_block(8, 33, 33, 64, 4, 4))
    odd("block_d1024_h16_s64", E._tb(1, 64, 64, 1024, 16, 4, MASK=0, seed=505),
        flops_block(1, 64, 64, 1024, 16, 4))
    odd("block_d128_h2_s1", E._tb(1, 1, 1, 128, 2, 4, MASK=0, seed=506), flops_block(1, 1, 1, 128, 2, 4))
    odd("block_causal_d256_h8_s300_b2", E._tb(2, 300, 300, 256, 8, 4, MASK=3, seed=507),
        flops_block(2, 300, 300, 256, 8, 4, causal=True))
    odd("einsum_n2_q128_e256_h8_pad", E._sa(2, 128, 128, 256, 8, MASK=1, seed=508),
        flops_block(2, 128, 128, 256, 8, 0, ffn=False))
    odd("einsum_q100_k300_e512_h8", E._sa(1, 100, 300, 512, 8, MASK=0, seed=509),
        flops_block(1, 100, 300, 512, 8, 0, ffn=False))
    odd("fc_b4_s128_d256_l2", E._fc(4, 128, 256, 2, seed=510), flops_fc(4, 128, 256, 2))
    odd("fc_b1_s50_d100_l3", E._fc(1, 50, 100, 3, seed=511), flops_fc(1, 50, 100, 3))
    odd("lstm_b8_s50_e100_h128_l2", E._lstm(8, 50, 100, 128, 2, 10, seed=512), flops_lstm(8, 50, 100, 128, 2, 10))
    odd("lstm_b1_s200_e300_h256", E._lstm(1, 200, 300, 256, 1, 3, seed=513), flops_lstm(1, 200, 300, 256, 1, 3))
    odd("lstm_b32_s30_e64_h512_l2", E._lstm(32, 30, 64, 512, 2, 4, seed=514), flops_lstm(32, 30, 64, 512, 2, 4))
    odd("timesformer_b4_t50_d384_h6", E._tsf(4, 50, 384, 6, WITH_QKV=1, seed=515), flops_tsf(4, 50, 384, 6))
    odd("timesformer_t197_d384_h6_noqkv", E._tsf(1, 197, 384, 6, WITH_QKV=0, seed=516),
        flops_tsf(1, 197, 384, 6, with_qkv=False))
    odd("d2l_b4_q50_k70_hid256_h8", E._d2l(4, 50, 70, 100, 120, 140, 256, 8, BIAS=1, VL=1, seed=517,
                                            valid_lens=[70, 33, 1, 50]),
        flops_d2l(4, 50, 70, 100, 120, 140, 256, 8))
    odd("d2l_b2_q64_hid128_h4_perquery", E._d2l(2, 64, 64, 64, 64, 64, 128, 4, BIAS=0, VL=2, seed=518,
                                                 valid_lens=[[i % 64 + 1 for i in range(64)]] * 2),
        flops_d2l(2, 64, 64, 64, 64, 64, 128, 4))
    odd("mha_weights_b4_q128_d256_h8_causal", E._mha(4, 128, 128, 256, 8, MASK=2, seed=519),
        flops_mha(4, 128, 128, 256, 8))
    odd("mha_weights_q512_d512_h8_pad", E._mha(1, 512, 512, 512, 8, MASK=1, seed=520), flops_mha(1, 512, 512, 512, 8))
    odd("torch_mha_weights_b4_q100_k120_e256_h8", E._tmha(4, 100, 120, 256, 8, seed=521, KEY_PADDING_MASK=1),
        flops_mha(4, 100, 120, 256, 8))
    odd("torch_mha_b2_q256_e512_h8_causal", E._tmha(2, 256, 256, 512, 8, seed=522, ATTN_MASK=1, NEED_WEIGHTS=0),
        flops_mha(2, 256, 256, 512, 8))
    odd("torch_mha_perhead_b3_q64_k80_kv", E._tmha(3, 64, 80, 192, 6, seed=523, BATCH_FIRST=0, KDIM=100,
                                                    VDIM=50, AVERAGE=0),
        flops_mha(3, 64, 80, 192, 6, kdim=100, vdim=50))
    return cs


CASES = all_cases()
CASES_BY_NAME = {c.name: c for c in CASES}


def lua_defaults(path):
    """define("NAME", value) defaults of a model file (numbers and quoted strings)."""
    with open(os.path.join(ROOT, path)) as f:
        text = f.read()
    out = {}
    for m in re.finditer(r'define\(\s*"(\w+)"\s*,\s*("[^"]*"|[-0-9.eE+]+)\s*\)', text):
        v = m.group(2)
        out[m.group(1)] = v.strip('"') if v.startswith('"') else float(v)
    return out


def check_default_shapes(cases):
    """Warnings for example cases whose defines are not the model file's defaults."""
    warns = []
    for c in cases:
        if not c.default_shape:
            continue
        dflt = lua_defaults(c.lua)
        for k, v in c.defines.items():
            d = dflt.get(k)
            same = d is not None and (str(d) == str(v) if isinstance(d, str) else float(v) == d)
            if not same:
                warns.append("%s: -D %s=%s but %s's default is %s" % (c.name, k, v, c.lua, d))
    return warns


# ======================================================================= torch side
def make_module(case):
    torch.manual_seed(case.seed)
    m = case.build()
    E.reinit_(m, case.seed, fan_in=True)
    return m.eval()


def input_template(case):
    return case.inputs(torch.Generator().manual_seed(case.seed + 104729))


def call_case(case, module, inputs):
    return case.call(module, inputs) if case.call is not None else module(**inputs)


def time_fn(fn, target_s, min_runs, max_runs=100000, warmup_s=0.1, warm=None):
    """Warm up (>= 1 call and ~warmup_s; `warm` = seconds of a call just made, which
    counts), then time n calls one by one, n chosen so the timed part takes ~target_s
    (at least min_runs). Returns (median_ms, min_ms, n)."""
    t_start = time.perf_counter() - (warm or 0.0)
    last = warm
    calls = 0 if warm is None else 1
    while calls < 1 or (time.perf_counter() - t_start < warmup_s and calls < 1000):
        t0 = time.perf_counter()
        fn()
        last = time.perf_counter() - t0 if last is None else min(last, time.perf_counter() - t0)
        calls += 1
    n = max(min_runs, min(max_runs, int(math.ceil(target_s / max(last, 1e-7)))))
    ts = []
    gc_was = gc.isenabled()
    gc.disable()
    try:
        for _ in range(n):
            t0 = time.perf_counter()
            fn()
            ts.append(time.perf_counter() - t0)
    finally:
        if gc_was:
            gc.enable()
    return statistics.median(ts) * 1e3, min(ts) * 1e3, n


def blas_info():
    """Which BLAS this process has loaded, and its OpenBLAS core if it is OpenBLAS."""
    info = {"libs": [], "threadpoolctl": None, "torch_blas_info": None}
    m = re.search(r"BLAS_INFO=(\w+)", torch.__config__.show())
    info["torch_blas_info"] = m.group(1) if m else "?"
    try:
        import threadpoolctl
        info["threadpoolctl"] = [
            {k: d.get(k) for k in ("internal_api", "version", "architecture", "num_threads", "filepath")}
            for d in threadpoolctl.threadpool_info()]
    except Exception:  # not installed (Debian has no python3-threadpoolctl here)
        pass
    paths = set()
    try:
        with open("/proc/self/maps") as f:
            for line in f:
                p = line.split()[-1] if len(line.split()) >= 6 else ""
                base = os.path.basename(p).lower()
                if p.startswith("/") and ("blas" in base or "mkl" in base or "blis" in base):
                    paths.add(p)
    except OSError:
        pass
    for p in sorted(paths):
        ent = {"path": os.path.realpath(p), "kind": "?"}
        try:
            lib = ctypes.CDLL(p)
            if hasattr(lib, "openblas_get_corename"):
                lib.openblas_get_corename.restype = ctypes.c_char_p
                ent["kind"] = "OpenBLAS"
                ent["corename"] = lib.openblas_get_corename().decode()
                if hasattr(lib, "openblas_get_config"):
                    lib.openblas_get_config.restype = ctypes.c_char_p
                    ent["config"] = lib.openblas_get_config().decode()
                if hasattr(lib, "openblas_get_num_threads"):
                    ent["num_threads"] = lib.openblas_get_num_threads()
            elif hasattr(lib, "bli_info_get_version_str"):
                ent["kind"] = "BLIS"
            elif hasattr(lib, "MKL_Get_Max_Threads") or "mkl" in os.path.basename(p):
                ent["kind"] = "MKL"
            elif hasattr(lib, "sgemm_") or hasattr(lib, "cblas_sgemm"):
                ent["kind"] = "reference BLAS (netlib; no openblas_get_corename)"
        except OSError as e:
            ent["kind"] = "cannot dlopen: %s" % e
        info["libs"].append(ent)
    return info


def describe_blas(info):
    parts = []
    for ent in info["libs"]:
        s = "%s %s" % (ent["kind"], ent["path"])
        if "corename" in ent:
            s = "OpenBLAS core %s (%s) %s" % (ent["corename"], ent.get("config", ""), ent["path"])
            if "num_threads" in ent:
                s += " threads=%d" % ent["num_threads"]
        parts.append(s)
    if info.get("threadpoolctl"):
        parts.append("threadpoolctl: " + "; ".join(
            "%s %s %s threads=%s" % (d["internal_api"], d["version"], d["architecture"], d["num_threads"])
            for d in info["threadpoolctl"]))
    return "torch BLAS_INFO=%s; loaded: %s" % (info["torch_blas_info"], " | ".join(parts) or "no BLAS library")


_LOADED = {}  # the last case the worker loaded: (case, w, r) -> (module, ref)


def worker_job(job):
    case = CASES_BY_NAME[job["case"]]
    res = {"case": case.name}
    key = (case.name, job["w"], job["r"])
    if key not in _LOADED:  # later rounds of the same case reuse it
        _LOADED.clear()
        module = make_module(case)
        module.load_state_dict(attncc_ref.load_safetensors(job["w"]), strict=True)
        _LOADED[key] = (module, attncc_ref.load_safetensors(job["r"]))
    module, ref = _LOADED[key]
    inputs = {k: (ref[k] if v is not None else None) for k, v in input_template(case).items()}
    target, min_runs = job["target"], job["min_runs"]
    with torch.inference_mode():
        t0 = time.perf_counter()
        out = call_case(case, module, inputs)
        warm = time.perf_counter() - t0
        out = out if isinstance(out, (tuple, list)) else (out,)
        err = 0.0
        for name, o in zip(case.outputs, out):
            if o is not None and name in ref:
                err = max(err, float((o.float() - ref[name]).abs().max()))
        res["torch_err"] = err
        res["torch_ms"], res["torch_min_ms"], res["torch_runs"] = time_fn(
            lambda: call_case(case, module, inputs), target, min_runs, warm=warm)
    if case.gemm:
        import numpy as np
        x = np.ascontiguousarray(inputs["x"].numpy(), dtype=np.float32)
        w = np.ascontiguousarray(module.weight.detach().numpy(), dtype=np.float32)
        t0 = time.perf_counter()
        y = np.dot(x, w)
        warm = time.perf_counter() - t0
        res["numpy_err"] = float(np.abs(y - ref["y"].numpy()).max())
        res["numpy_ms"], res["numpy_min_ms"], res["numpy_runs"] = time_fn(
            lambda: np.dot(x, w), target, min_runs, warm=warm)
    return res


def worker_main():
    """The PyTorch timing process: reads one JSON job a line, answers one line each."""
    threads = int(os.environ.get("BENCH_THREADS", "1"))
    torch.set_num_threads(threads)
    import numpy as np
    a = np.ones((64, 64), dtype=np.float32)
    np.dot(a, a)
    torch.mm(torch.ones(64, 64), torch.ones(64, 64))
    hello = {"hello": True, "torch": torch.__version__, "numpy": np.__version__,
             "threads": torch.get_num_threads(), "blas": blas_info(),
             "env_dropped_ok": not any(v in os.environ for v in BLAS_ENV_DROP)}
    out = sys.stdout
    out.write("BENCHWORKER " + json.dumps(hello) + "\n")
    out.flush()
    for line in sys.stdin:
        if not line.strip():
            continue
        job = json.loads(line)
        try:
            res = worker_job(job)
        except Exception as e:  # reported as the case's torch error
            import traceback
            res = {"case": job.get("case"), "error": "%s\n%s" % (e, traceback.format_exc())}
        gc.collect()
        out.write("BENCHWORKER " + json.dumps(res) + "\n")
        out.flush()
    return 0


class TorchWorker:
    def __init__(self, threads):
        env = {k: v for k, v in os.environ.items() if k not in BLAS_ENV_DROP}
        env.update(BENCH_THREADS=str(threads), OMP_NUM_THREADS=str(threads),
                   OPENBLAS_NUM_THREADS=str(threads), MKL_NUM_THREADS=str(threads))
        self.dropped = [k for k in BLAS_ENV_DROP if k in os.environ]
        self.p = subprocess.Popen([sys.executable, os.path.abspath(__file__), "--worker"],
                                  stdin=subprocess.PIPE, stdout=subprocess.PIPE, env=env,
                                  universal_newlines=True, bufsize=1, cwd=ROOT)
        self.hello = self._read()
        if self.hello is None:
            raise RuntimeError("the PyTorch worker did not start")

    def _read(self):
        for line in self.p.stdout:
            if line.startswith("BENCHWORKER "):
                return json.loads(line[len("BENCHWORKER "):])
        return None

    def run(self, job):
        try:
            self.p.stdin.write(json.dumps(job) + "\n")
            self.p.stdin.flush()
        except (BrokenPipeError, OSError):
            return {"error": "the PyTorch worker died"}
        r = self._read()
        return r if r is not None else {"error": "the PyTorch worker died"}

    def close(self):
        try:
            self.p.stdin.close()
        except OSError:
            pass
        try:
            self.p.wait(timeout=30)
        except subprocess.TimeoutExpired:
            self.p.kill()
            self.p.wait()


# ======================================================================= attncc side
TIME_RE = re.compile(r"^check: time median_ms (\S+) min_ms (\S+) runs (\d+)", re.M)
# with run-time weights: the prepared variant's calls (PREFIX_run_prepared), timed after
TIME_PREPARED_RE = re.compile(r"^check: time prepared median_ms (\S+) min_ms (\S+) runs (\d+)", re.M)


def attncc_path():
    a = os.environ.get("ATTNCC")
    if a:
        return os.path.abspath(a) if os.sep in a else (shutil.which(a) or a)
    return os.path.join(ROOT, "attncc")


def resolve_extra(flags, threads, help_text, filter_unknown):
    """The extra attncc flags for a thread count: (kept, dropped)."""
    items = [f.replace("{threads}", str(threads)) for f in flags]
    if not filter_unknown:
        return items, []
    kept, dropped, i = [], [], 0
    while i < len(items):
        opt = items[i]
        group = [opt]
        if opt.startswith("-") and "=" not in opt and i + 1 < len(items) and not items[i + 1].startswith("-"):
            group.append(items[i + 1])
        i += len(group)
        name = opt.split("=", 1)[0]
        if not name.startswith("-") or re.search(r"(^|[\s,\[])" + re.escape(name) + r"\b", help_text):
            kept += group
        else:
            dropped += group
    return kept, dropped


def run_cmd(cmd, env, timeout, verbose):
    if verbose:
        sys.stderr.write("$ %s\n" % " ".join(shlex.quote(c) for c in cmd))
    try:
        p = subprocess.run(cmd, cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                           universal_newlines=True, timeout=timeout)
        rc, out, err = p.returncode, p.stdout, p.stderr
    except FileNotFoundError as e:
        rc, out, err = 127, "", "cannot run %s: %s" % (cmd[0], e)
    except subprocess.TimeoutExpired as e:
        rc, out = -1, e.stdout if isinstance(e.stdout, str) else ""
        err = "timed out after %.0f s" % timeout
    if verbose:
        sys.stderr.write(out + err)
    return rc, out, err


def parse_time(out, prepared=False):
    """(median, min, runs) of check's last timing line: of PREFIX_run, or with prepared
    (run-time weights) of PREFIX_run_prepared."""
    m = None
    for m in (TIME_PREPARED_RE if prepared else TIME_RE).finditer(out):
        pass
    if not m:
        return None
    try:
        return float(m.group(1)), float(m.group(2)), int(m.group(3))
    except ValueError:
        return None


def _run_built(keep, r, w, n, env, opts):
    """Runs the program a kept `attncc check` built: (status, (median, min, runs)) or None."""
    exe = os.path.join(keep, "check")
    if not os.access(exe, os.X_OK):
        return None
    cmd = [exe, r, TOL] + (["--weights", w] if opts.runtime_weights else []) + ["--repeat", str(n)]
    rc, out, _ = run_cmd(cmd, env, opts.timeout, opts.verbose)
    tm = parse_time(out, opts.runtime_weights) if rc in (0, 1) else None
    return None if tm is None else ("PASS" if rc == 0 else "FAIL", tm)


def runs_for(target, fastest_ms, opts):
    """How many runs fill ~target seconds at fastest_ms each (at least MIN_RUNS)."""
    return max(opts.min_runs, min(100000, int(math.ceil(target * 1e3 / max(fastest_ms, 1e-4)))))


def run_attncc(case, w, r, threads, extra, opts, keep, built, target):
    """Check and time one case at one thread count.  Unless `built` (the same flags were
    built into `keep` before: the program is run again), `attncc check ... --repeat
    MIN_RUNS --keep KEEP` builds, checks and times MIN_RUNS runs.  When those took less
    than ~0.6 x target (seconds), the kept program runs again with --repeat N for ~target
    (N from the fastest run so far); `attncc check --repeat N` if it cannot be run."""
    env = dict(os.environ, OMP_NUM_THREADS=str(threads))
    base = [attncc_path(), "check", case.lua, "--weights", w, "--ref", r]
    for k, v in case.defines.items():
        base += ["-D", "%s=%s" % (k, v)]
    base += extra + (["--runtime-weights"] if opts.runtime_weights else [])
    res = {"cmd": " ".join(shlex.quote(c) for c in base + ["--repeat", "N"]), "built": False}
    t0 = time.time()
    first = _run_built(keep, r, w, opts.min_runs, env, opts) if built else None
    if first is not None:
        res["check"], tm = first
    else:
        shutil.rmtree(keep, ignore_errors=True)
        rc, out, err = run_cmd(base + ["--repeat", str(opts.min_runs), "--keep", keep], env, opts.timeout,
                               opts.verbose)
        tm = parse_time(out, opts.runtime_weights)
        res["check"] = "PASS" if rc == 0 and "check: PASS" in out else "FAIL" if rc == 1 else "ERROR"
        if tm is None:
            res["check"] = "ERROR"
        else:
            res["built"] = True
        if res["check"] != "PASS":
            tail = (out + err).strip().splitlines()
            res["detail"] = "exit status %d: %s" % (rc, "\n".join(tail[-12:]))
    res["secs_check"] = time.time() - t0
    if tm is None:
        return res
    if tm[2] * tm[0] < 0.6 * target * 1e3:
        n = runs_for(target, tm[1], opts)
        t0 = time.time()
        again = _run_built(keep, r, w, n, env, opts)
        if again is not None:
            tm2 = again[1]
        else:  # the built program's interface changed: time through attncc check
            rc2, out2, _ = run_cmd(base + ["--repeat", str(n)], env, opts.timeout, opts.verbose)
            tm2 = parse_time(out2, opts.runtime_weights)
        res["secs_time"] = time.time() - t0
        if tm2 is None:
            res["check"] = "ERROR"
            res["detail"] = (res.get("detail", "") + "\nthe timing run printed no time").strip()
            return res
        tm = tm2
    res["attncc_ms"], res["attncc_min_ms"], res["attncc_runs"] = tm
    return res


def attncc_round(a, w, r, threads, opts, keep, target):
    """A later timing round of a case `run_attncc` built and timed in `a`: the kept
    program again, for ~target seconds.  (median, min, runs), or None."""
    env = dict(os.environ, OMP_NUM_THREADS=str(threads))
    again = _run_built(keep, r, w, runs_for(target, a["attncc_min_ms"], opts), env, opts)
    return again[1] if again is not None and again[0] == a.get("check") else None


def merge_rounds(rounds):
    """One result from the rounds' (torch result, attncc result) pairs: the median of the
    round medians, the least minimum, the runs summed, the median adjacent peak."""
    t, a = dict(rounds[0][0]), dict(rounds[0][1])
    for i, res, side in ((0, t, "torch"), (0, t, "numpy"), (1, a, "attncc")):
        part = [x[i] for x in rounds]
        ms = [x.get(side + "_ms") for x in part]
        if all(m is not None for m in ms):
            res[side + "_ms"] = statistics.median(ms)
            res[side + "_min_ms"] = min(x[side + "_min_ms"] for x in part)
            res[side + "_runs"] = sum(x[side + "_runs"] for x in part)
    peaks = [x[1].get("peak_adjacent") for x in rounds if x[1].get("peak_adjacent")]
    a["peak_adjacent"] = statistics.median(peaks) if peaks else None
    t["secs"] = sum(x[0].get("secs", 0) for x in rounds)
    a["secs_time"] = sum(x[1].get("secs_time", 0) for x in rounds)
    a["rounds"] = len(rounds)
    return t, a


# ======================================================================= peak
def build_peak(workdir, verbose):
    cc = os.environ.get("CC") or "clang"
    if shutil.which(cc) is None:
        cc = "clang" if shutil.which("clang") else "cc"
    exe = os.path.join(workdir, "peak_fma")
    src = os.path.join(HERE, "peak_fma.c")
    for march in (["-march=native"], []):
        cmd = [cc, "-O2"] + march + ["-o", exe, src, "-lpthread", "-lm"]
        rc, out, err = run_cmd(cmd, None, 120, verbose)
        if rc == 0:
            return exe
        sys.stderr.write("run_bench.py: %s failed:\n%s" % (" ".join(cmd), err))
    return None


class Peak:
    """peak_fma measurements, each the median of its trials; the peak quoted is the best
    measurement so far for a thread count (other load on the machine can only lower one)."""

    def __init__(self, exe, verbose):
        self.exe, self.verbose, self.isa, self.error = exe, verbose, "?", None
        self.seen = {}

    def measure(self, threads, secs=0.05, trials=15):
        if self.exe is None:
            self.error = "peak_fma did not build"
            return None
        rc, out, err = run_cmd([self.exe, str(threads), str(secs), str(trials)], None, 120, self.verbose)
        m = re.search(r"isa (\S+) .*threads (\d+) gflops (\S+) median_gflops (\S+)", out)
        if rc != 0 or not m:
            self.error = "peak_fma failed: %s" % (out + err).strip()
            return None
        self.isa = m.group(1)
        # the median of the trials: one trial timed short by a clock glitch of this VM
        # once read 155 GFLOP/s on 1 thread (the core's physical limit is ~118)
        self.seen.setdefault(threads, []).append(float(m.group(4)))
        return float(m.group(4))

    def get(self, threads):
        v = self.seen.get(threads)
        return max(v) if v else None

    def describe(self, threads):
        v = self.seen.get(threads)
        if not v:
            return "%d thread%s: unknown (%s)" % (threads, "" if threads == 1 else "s", self.error)
        return "%d thread%s %.1f GFLOP/s (%s; the best of %d measurements in this run, which ranged %.1f-%.1f)" % (
            threads, "" if threads == 1 else "s", max(v), self.isa, len(v), min(v), max(v))


# ======================================================================= report
def fnum(x, fmt="%.3f"):
    return "nan" if x is None or (isinstance(x, float) and math.isnan(x)) else fmt % x


def fms(x):
    if x is None:
        return "-"
    return "%.4g" % x if x < 1000 else "%.0f" % x


def row_values(case, a, t, peak):
    am, tm = a.get("attncc_ms"), t.get("torch_ms")
    gflop = case.flops / 1e9
    v = {"gflop": gflop, "attncc_ms": am, "torch_ms": tm, "numpy_ms": t.get("numpy_ms")}
    v["speedup"] = tm / am if am and tm else None
    v["gflops"] = case.flops / (am * 1e6) if am else None
    v["torch_gflops"] = case.flops / (tm * 1e6) if tm else None
    adj = a.get("peak_adjacent")
    v["peak_adjacent"] = adj
    v["peak_pct"] = 100.0 * v["gflops"] / adj if v["gflops"] and adj else None
    v["peak_best_pct"] = 100.0 * v["gflops"] / peak if v["gflops"] and peak else None
    v["check"] = a.get("check", "ERROR")
    return v


HEAD = "%-26s %-5s %8s %10s %10s %10s %8s %9s %9s %6s %6s %9s"


def print_row(case, v, a, t):
    runs = "%s/%s" % (a.get("attncc_runs", "-"), t.get("torch_runs", "-"))
    print(HEAD % (case.name, v["check"], "%.4f" % v["gflop"], fms(v["attncc_ms"]), fms(v["torch_ms"]),
                  fms(v["numpy_ms"]), fnum(v["speedup"], "%.2fx"), fnum(v["gflops"], "%.2f"),
                  fnum(v["torch_gflops"], "%.2f"), fnum(v["peak_pct"], "%.1f"),
                  fnum(v["peak_best_pct"], "%.1f"), runs), flush=True)


def bench_line(case, v, threads):
    s = "BENCH case=%s attncc_ms=%s torch_ms=%s speedup=%s gflops=%s peak_pct=%s threads=%d check=%s gflop=%s" % (
        case.name, fnum(v["attncc_ms"], "%.4f"), fnum(v["torch_ms"], "%.4f"), fnum(v["speedup"], "%.3f"),
        fnum(v["gflops"], "%.3f"), fnum(v["peak_pct"], "%.2f"), threads, v["check"], fnum(v["gflop"], "%.6f"))
    if case.gemm:
        s += " numpy_ms=%s" % fnum(v["numpy_ms"], "%.4f")
    s += " peak_gflops=%s peak_best_pct=%s" % (fnum(v["peak_adjacent"], "%.2f"),
                                               fnum(v["peak_best_pct"], "%.2f"))
    return s


def loadavg():
    try:
        with open("/proc/loadavg") as f:
            return " ".join(f.read().split()[:3])
    except OSError:
        return "?"


def cpu_name():
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return "?"


# ======================================================================= main
class Opts:
    quick = False
    threads = [1, 2]
    filters: List[str] = []
    target = None
    min_runs = None
    rounds = None
    runtime_weights = False
    attncc_flags = None
    list_only = False
    keep = False
    verbose = False
    odd = False
    timeout = 1800.0


def usage_error(msg):
    sys.stderr.write("run_bench.py: %s\n" % msg)
    raise SystemExit(2)


def parse_args(argv):
    o = Opts()
    o.filters = []
    i = 0

    def val():
        nonlocal i
        if i + 1 >= len(argv):
            usage_error("%s needs a value" % argv[i])
        i += 1
        return argv[i]

    while i < len(argv):
        a = argv[i]
        if "=" in a and a.startswith("--"):
            a, v = a.split("=", 1)
            argv = argv[:i] + [a, v] + argv[i + 1:]
        if a == "--quick":
            o.quick = True
        elif a == "--threads":
            try:
                o.threads = [int(x) for x in val().split(",") if x.strip()]
            except ValueError:
                usage_error("--threads takes a list like 1,2")
        elif a == "--filter":
            o.filters += [x for x in val().split(",") if x]
        elif a == "--target-seconds":
            o.target = float(val())
        elif a == "--min-runs":
            o.min_runs = int(val())
        elif a == "--rounds":
            o.rounds = int(val())
        elif a == "--runtime-weights":
            o.runtime_weights = True
        elif a == "--attncc-flags":
            o.attncc_flags = shlex.split(val())
        elif a == "--odd-shapes":
            o.odd = True
        elif a == "--list":
            o.list_only = True
        elif a == "--keep":
            o.keep = True
        elif a == "-v":
            o.verbose = True
        elif a in ("-h", "--help"):
            print(__doc__.strip())
            raise SystemExit(0)
        else:
            usage_error("unknown argument %s (see --help)" % a)
        i += 1
    if o.target is None:
        o.target = 0.15 if o.quick else 1.0
    if o.min_runs is None:
        o.min_runs = 3 if o.quick else 5
    if o.rounds is None:
        o.rounds = 1 if o.quick else 3
    if o.rounds < 1:
        usage_error("--rounds needs a positive count")
    if not o.threads or any(t < 1 for t in o.threads):
        usage_error("--threads needs positive counts, e.g. 1,2")
    return o


def select(opts):
    group = [c for c in CASES if c.odd == opts.odd]
    if opts.filters:
        return [c for c in group if any(f in c.name for f in opts.filters)]
    return [c for c in group if c.quick or not opts.quick]


def main(argv):
    opts = parse_args(argv)
    cases = select(opts)
    if not cases:
        sys.stderr.write("run_bench.py: no case matches %s (see --list)\n" % ",".join(opts.filters))
        return 2
    if opts.list_only:
        for c in cases:
            print("%-26s %-34s %8.4f GFLOP  %s" % (c.name, c.lua, c.flops / 1e9, " ".join(
                "-D %s=%s" % kv for kv in c.defines.items())))
        return 0
    for wmsg in check_default_shapes(cases):
        sys.stderr.write("run_bench.py: warning: %s\n" % wmsg)
    if not os.access(attncc_path(), os.X_OK):
        sys.stderr.write("run_bench.py: %s is not there (run make, or set ATTNCC)\n" % attncc_path())
        return 2
    help_text = subprocess.run([attncc_path(), "--help"], stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                               universal_newlines=True).stdout
    version = subprocess.run([attncc_path(), "--version"], stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                             universal_newlines=True).stdout.strip()
    flags = ATTNCC_EXTRA if opts.attncc_flags is None else opts.attncc_flags
    t_all = time.time()
    workdir = tempfile.mkdtemp(prefix="attncc_bench_")
    summary = []
    values = {}  # threads -> case name -> row values, for the targets report
    bad = 0
    workers = {}
    try:
        peak = Peak(build_peak(workdir, opts.verbose), opts.verbose)
        for threads in sorted(set([1] + opts.threads)):
            peak.measure(threads)
        load_before = loadavg()
        extras = {}
        for threads in opts.threads:
            extras[threads] = resolve_extra(flags, threads, help_text, opts.attncc_flags is None)
            workers[threads] = TorchWorker(threads)
        results = {threads: [] for threads in opts.threads}
        # case by case, every thread count in turn: both measured under the same conditions,
        # and a program built with the same attncc flags is run again, not rebuilt
        for ci, c in enumerate(cases):
            cdir = os.path.join(workdir, c.name)
            os.makedirs(cdir, exist_ok=True)
            w, r = os.path.join(cdir, "weights.safetensors"), os.path.join(cdir, "ref.safetensors")
            t0 = time.time()
            try:
                torch.set_num_threads(max(opts.threads))
                attncc_ref.export_reference(make_module(c), input_template(c), w, r, c.outputs,
                                            call=c.call, metadata={"case": c.name})
                xerr = None
            except Exception as e:
                xerr = "torch export failed: %s" % e
            secs_export = time.time() - t0
            built = {}
            for threads in opts.threads:
                extra = extras[threads][0]
                if xerr:
                    t, a = {"error": xerr}, {"check": "ERROR", "detail": xerr}
                else:
                    # rounds: PyTorch, then attncc, each ~target/rounds seconds, in turn
                    key = tuple(extra)
                    keep = built.get(key) or os.path.join(cdir, "attncc_%d" % len(built))
                    sub = opts.target / opts.rounds
                    rounds = []
                    for rd in range(opts.rounds):
                        t0 = time.time()
                        t = workers[threads].run({"case": c.name, "w": w, "r": r, "target": sub,
                                                  "min_runs": opts.min_runs})
                        t["secs"] = time.time() - t0
                        if t.get("error") == "the PyTorch worker died":
                            workers[threads].close()
                            workers[threads] = TorchWorker(threads)
                        before = peak.measure(threads, 0.04, 5)  # the peak next to the timing
                        if rd == 0:
                            a = run_attncc(c, w, r, threads, extra, opts, keep, key in built, sub)
                        else:
                            t0 = time.time()
                            tm = attncc_round(rounds[0][1], w, r, threads, opts, keep, sub)
                            if tm is None:
                                break
                            a = {"attncc_ms": tm[0], "attncc_min_ms": tm[1], "attncc_runs": tm[2],
                                 "secs_time": time.time() - t0}
                        after = peak.measure(threads, 0.04, 5)
                        near = [x for x in (before, after) if x]
                        a["peak_adjacent"] = max(near) if near else None
                        rounds.append((t, a))
                        if t.get("torch_ms") is None or a.get("attncc_ms") is None:
                            break
                    t, a = merge_rounds(rounds)
                    if a.get("built"):
                        built[key] = keep
                results[threads].append((c, a, t))
                sys.stderr.write("[%d/%d t%d] %-26s %-5s attncc %s ms, torch %s ms (seconds: export %.1f, "
                                 "torch %.1f, attncc check %.1f + timing %.1f)\n" % (
                                     ci + 1, len(cases), threads, c.name, a.get("check", "ERROR"),
                                     fms(a.get("attncc_ms")), fms(t.get("torch_ms")), secs_export,
                                     t.get("secs", 0), a.get("secs_check", 0), a.get("secs_time", 0)))
                secs_export = 0.0
            if not opts.keep:
                shutil.rmtree(cdir, ignore_errors=True)
            for threads in sorted(set([1] + opts.threads)):
                peak.measure(threads, 0.04, 5)  # a short one after every case: catches quiet moments
        hellos = {}
        for threads, wk in workers.items():
            hellos[threads] = (wk.hello, wk.dropped)
            wk.close()
        workers = {}
        for threads in sorted(set([1] + opts.threads)):
            peak.measure(threads)  # again after the cases: the best measurement is quoted
        load_after = loadavg()

        for threads in opts.threads:
            extra, dropped = extras[threads]
            h, env_dropped = hellos[threads]
            p = peak.get(threads)
            print("")
            print("== attncc bench, %d thread%s: %d case%s (%s), target %.2g s per side in %d alternating "
                  "round%s, >= %d runs a round, median of the round medians" % (
                      threads, "" if threads == 1 else "s", len(cases), "" if len(cases) == 1 else "s",
                      "quick" if opts.quick else "full", opts.target, opts.rounds,
                      "" if opts.rounds == 1 else "s", opts.min_runs))
            print("machine: %s, %d cpus; load average %s before the run, %s after" % (
                cpu_name(), os.cpu_count() or 0, load_before, load_after))
            print("peak (bench/peak_fma.c): %s" % peak.describe(1))
            if threads != 1:
                print("peak (bench/peak_fma.c): %s" % peak.describe(threads))
            print("%%peak: against the %d-thread peak measured right before and after the case's timing "
                  "(the higher); %%best: against the best of the run" % threads)
            print("attncc: %s (%s) flags: %s%s%s" % (
                attncc_path(), version, " ".join(extra) or "(none)",
                "  [dropped, not in attncc --help: %s]" % " ".join(dropped) if dropped else "",
                "  --runtime-weights" if opts.runtime_weights else ""))
            print("torch %s (set_num_threads %d), numpy %s; torch worker env without %s%s" % (
                h["torch"], h["threads"], h["numpy"], ", ".join(BLAS_ENV_DROP),
                " (were set: %s)" % ", ".join(env_dropped) if env_dropped else " (neither was set)"))
            print("BLAS: %s" % describe_blas(h["blas"]))
            print("")
            print(HEAD % ("case", "check", "GFLOP", "attncc_ms", "torch_ms", "numpy_ms", "speedup",
                          "attncc_GF", "torch_GF", "%peak", "%best", "runs a/t"))
            lines, speedups = [], []
            values[threads] = {}
            for c, a, t in results[threads]:
                v = row_values(c, a, t, p)
                values[threads][c.name] = v
                print_row(c, v, a, t)
                if v["check"] != "PASS":
                    bad += 1
                    print("    %s: %s" % (v["check"], a.get("detail", "").replace("\n", "\n    ")))
                    if a.get("cmd"):
                        print("    $ %s" % a["cmd"])
                if t.get("error"):
                    print("    torch side failed: %s" % t["error"].strip().replace("\n", "\n    "))
                elif t.get("torch_err", 0) > 1e-3 or (t.get("numpy_err") or 0) > 1e-2:
                    print("    note: the torch worker's output differs from the reference by %.2e (numpy %s)"
                          % (t.get("torch_err", 0), fnum(t.get("numpy_err"), "%.2e")))
                if v["speedup"]:
                    speedups.append(v["speedup"])
                lines.append(bench_line(c, v, threads))
            print("")
            for line in lines:
                print(line)
            sys.stdout.flush()
            if speedups:
                g = math.exp(sum(math.log(x) for x in speedups) / len(speedups))
                summary.append("%d thread%s: geomean speedup (torch_ms/attncc_ms) %.2fx over %d cases" % (
                    threads, "" if threads == 1 else "s", g, len(speedups)))
    finally:
        for wk in workers.values():
            wk.close()
        if opts.keep:
            sys.stderr.write("kept %s\n" % workdir)
        else:
            shutil.rmtree(workdir, ignore_errors=True)
    print("")
    for line in targets.report(values):
        print(line)
    print("")
    for s in summary:
        print(s)
    print("%d case run%s not PASS; %.0f s in all" % (bad, "" if bad == 1 else "s", time.time() - t_all))
    return 1 if bad else 0


if __name__ == "__main__":
    if len(sys.argv) > 1 and sys.argv[1] == "--worker":
        sys.exit(worker_main())
    sys.exit(main(sys.argv[1:]))
