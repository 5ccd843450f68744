-- Op-level compile-and-compare model (not an example): attention weights that are not
-- followed by a P V product the way the examples' are, so each is computed by the weights
-- kernel (an attention node marked "weights", compiler/fuse_attention.c) in another layout:
-- returned through a permute (the kernel writes P's rows through the permute's strides),
-- reduced over the heads (P is an intermediate), over 300 keys (two key blocks, 256 + 44:
-- the rows' running max across blocks, scores in the hundreds), with a bias tensor in the
-- score chain, and with a -inf mask that empties one query row (NaN, as in PyTorch).
-- PyTorch twin: tests/e2e/op_models.py.
--
-- inputs:  q [2, 3, 20, 16], k [2, 3, 300, 16], bias [20, 300], mask [2, 1, 20, 300] (bool,
--          true = masked)
-- outputs: the weights below, in order

local q = input("q", {2, 3, 20, 16})
local k = input("k", {2, 3, 300, 16})
local bias = input("bias", {20, 300})
local mask = input("mask", {2, 1, 20, 300}, "bool")
-- (the scores computed twice: an intermediate used by both would keep either from fusing)
-- (x 25: scores in the hundreds, where a row maximum that missed a key block would overflow
-- e^x)
local function scores(c) return matmul(q, k:transpose(-2, -1)) * c + bias end
output("swapped", softmax(scores(25), -1):permute(0, 2, 1, 3))
output("head_mean", softmax(scores(0.25):masked_fill(mask, -math.huge), -1):mean(1))
