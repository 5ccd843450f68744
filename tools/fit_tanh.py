#!/usr/bin/python3
"""fit_tanh.py: the coefficients of templates/kernels.c's PREFIX_tanh, and their error.

tanh(x) ~ x P(x^2) / Q(x^2) on 0 < x <= C (C = 9: beyond it tanh(x) rounds to 1 in float),
P and Q of degree 4 in x^2, Q(0) = 1. Fitted for relative error by linearized least squares
(x P - tanh(x) Q = 0, divided by tanh(x) and by the previous iteration's Q) with Lawson's
reweighting toward the minimax solution, in the variable u = x^2 / C^2 (well conditioned);
then the coefficients are scaled back to x^2 and rounded to float, and the function is
evaluated in float, with fused multiply-adds, as the C code does, against numpy's double
tanh on 22 million arguments (a dense grid over [0, 10] and a geometric one down to 1e-30).

usage: /usr/bin/python3 tools/fit_tanh.py   (numpy only; prints the C literals and errors)
"""

import numpy as np

C = 9.0
NP, NQ = 5, 4  # coefficients of P (degree 4 in x^2); degree of Q


def fit(iters=60):
    x = np.concatenate([np.linspace(1e-4, C, 20000), np.geomspace(1e-6, 1e-1, 2000)])
    t = np.tanh(x)
    u = x * x / (C * C)
    w = np.ones_like(x)
    qprev = np.ones_like(x)
    for _ in range(iters):
        a = np.concatenate([np.stack([x * u**k / t for k in range(NP)], 1),
                            np.stack([-u**k for k in range(1, NQ + 1)], 1)], 1)
        sw = np.sqrt(w) / qprev
        c, *_ = np.linalg.lstsq(a * sw[:, None], sw, rcond=None)
        p, q = c[:NP], np.concatenate([[1.0], c[NP:]])
        qprev = np.polyval(q[::-1], u)
        err = np.abs(x * np.polyval(p[::-1], u) / qprev / t - 1)
        w = w * (err / err.max() + 1e-3)
        w /= w.mean()
    return p, q, err.max()


def fma(a, b, c):  # float32 a * b + c, rounded once (the product is exact in double)
    return (a.astype(np.float64) * b + c).astype(np.float32)


def tanh32(x, pz, qz):
    c = np.clip(x, np.float32(-C), np.float32(C)).astype(np.float32)
    z = (c * c).astype(np.float32)
    p = np.full_like(z, pz[-1])
    for k in range(NP - 2, -1, -1):
        p = fma(p, z, pz[k])
    q = np.full_like(z, qz[-1])
    for k in range(NQ - 1, -1, -1):
        q = fma(q, z, qz[k])
    return ((c * p).astype(np.float32) / q).astype(np.float32)


def main():
    p, q, err = fit()
    pz = np.array([p[k] / C**(2 * k) for k in range(NP)], dtype=np.float32)
    qz = np.array([q[k] / C**(2 * k) for k in range(NQ + 1)], dtype=np.float32)
    print("relative error in double: %.3g" % err)
    print("P (constant term first):", ", ".join("%sf" % repr(float(v)) for v in pz))
    print("Q (constant term first):", ", ".join("%sf" % repr(float(v)) for v in qz))
    xs = np.concatenate([np.linspace(0, 10, 20_000_001, dtype=np.float32)[1:],
                         np.geomspace(1e-30, 1e-2, 2_000_000).astype(np.float32)])
    r, t = tanh32(xs, pz, qz).astype(np.float64), np.tanh(xs.astype(np.float64))
    rel = np.abs(r - t) / t
    for lo, hi in [(0, 1e-3), (1e-3, 1), (1, 3), (3, 6), (6, 10)]:
        m = (xs >= lo) & (xs < hi)
        print("float evaluation, x in [%g, %g): max relative error %.3g" % (lo, hi, rel[m].max()))


if __name__ == "__main__":
    main()
