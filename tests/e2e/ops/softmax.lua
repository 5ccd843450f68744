-- Op-level compile-and-compare model (not an example): softmax and log_softmax along the
-- last dim (the row kernels: rows of 7, 16 and 33 scores, so whole vectors and tails) and
-- along strided dims (up to 16 columns at a time: 33 columns are 16 + 16 + 1), with -inf
-- scores, a row that is all -inf (NaN, as in PyTorch), -1e9 fills, and scores in the hundreds
-- (where a max that missed a score would overflow e^x); and over u, big enough (>= 16384
-- values) that --threads 2 splits the rows (200 of 90) or the outer index (5: 3 + 2)
-- between the threads. PyTorch twin: tests/e2e/op_models.py.
--
-- inputs:  x [3, 5, 7], w [4, 20, 33], mask [4, 20, 33] (bool, true = -inf), u [5, 40, 90]
-- outputs: the softmaxes below, in order

local x = input("x", {3, 5, 7})
local w = input("w", {4, 20, 33})
local mask = input("mask", {4, 20, 33}, "bool")
local u = input("u", {5, 40, 90})
local wm = w:masked_fill(mask, -math.huge)
output("last", softmax(x, -1))
output("first", softmax(x, 0))
output("mid_log", x:log_softmax(1))
output("last_log", x:log_softmax(-1))
output("wide_last", softmax(wm, -1))
output("wide_mid", softmax(wm, 1))
output("wide_log_mid", wm:log_softmax(1))
output("fill_last", softmax(w:masked_fill(mask, -1e9), -1))
output("sixteen", softmax(w:narrow(2, 0, 16), -1))
output("big_mid", softmax(w * 100, 1))
output("big_last_log", (w * 100):log_softmax(-1))
output("split_last", softmax(u, -1))
output("split_log_mid", u:log_softmax(1))
