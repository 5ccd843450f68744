-- Op-level compile-and-compare model (not an example): attention whose weights are both
-- an output and multiplied by V, so the fused kernel writes P too (an attention node with
-- "weights=%N", compiler/fuse_attention.c), in the layouts the examples do not reach:
-- P returned through a permute (written dense, then copied) and P V through one (the
-- kernel's output rows go through the permute's strides); V computed after the softmax
-- (the kernel goes where the product was); P read before V is computed (the weights kernel
-- alone, then a batched product); P reshaped on its way to the product (bmm style); a
-- constant band mask (keys q+130 .. q+150 of 128-key blocks: the kernels compute only the
-- middle block and write zeros in the others), with V and without (the weights alone); over
-- 300 keys (two key blocks, scores in the hundreds) with a bias and a -inf mask that
-- empties one query row (NaN, as in PyTorch).
-- PyTorch twin: tests/e2e/op_models.py.
--
-- inputs:  q [2, 3, 20, 16], k [2, 3, 300, 16], v [2, 3, 300, 24], bias [20, 300],
--          mask [2, 1, 20, 300] (bool, true = masked)
-- outputs: the tensors below, in order

local q = input("q", {2, 3, 20, 16})
local k = input("k", {2, 3, 300, 16})
local v = input("v", {2, 3, 300, 24})
local bias = input("bias", {20, 300})
local mask = input("mask", {2, 1, 20, 300}, "bool")
-- (the scores computed for each: an intermediate used by two would keep either from fusing)
local function scores(c) return (matmul(q, k:transpose(-2, -1)) * c + bias):masked_fill(mask, -math.huge) end

local p = softmax(scores(25), -1)
output("out_swapped", matmul(p, v):permute(0, 2, 1, 3))
output("p_swapped", p:permute(0, 2, 1, 3))

local p_late = softmax(scores(0.25), -1)
local v_late = v * 2 + 1
output("out_late", matmul(p_late, v_late))
output("p_late_sum", p_late:sum(1))

local p_early = softmax(scores(1), -1)
local early = p_early:amax(-1)
local v_early = v - early:mean(-1, true):unsqueeze(-1)
output("out_early", matmul(p_early, v_early))
output("early", early)

local p_flat = softmax(scores(0.5), -1)
output("out_flat", matmul(p_flat:reshape(6, 20, 300), v:reshape(6, 300, 24)))
output("p_flat_max", p_flat:amax(1))

-- band: query q keeps keys q + 130 .. q + 150 (a constant; -1e9 elsewhere)
local band = (tril(ones({20, 300}), 150) * triu(ones({20, 300}), 130)):eq(0)
local function banded(c) return (matmul(q, k:transpose(-2, -1)) * c):masked_fill(band, -1e9) end
local p_band = softmax(banded(0.5), -1)
output("out_band", matmul(p_band, v))
output("p_band", p_band)
output("p_band_alone", softmax(banded(2), -1))
