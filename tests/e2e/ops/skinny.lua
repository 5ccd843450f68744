-- Op-level compile-and-compare model (not an example): products by weights of 1 to 8
-- columns, which the skinny kernel computes as dot products over K (compiler/pack.c,
-- pack_skinny): Linear weights [N, K] with and without bias, with the epilogues the GEMM
-- fuses (ReLU, GELU, a residual), K not a multiple of 16, row counts not a multiple of
-- 4, a [K, 1] matrix used as it is, and enough rows (x: 2 x 2000) that --threads 2 splits
-- them. PyTorch twin: tests/e2e/op_models.py.
--
-- inputs:  x [2, 2000, 40], r [2, 2000, 3], v [7, 16]
-- outputs: the products below, in order

local Skinny = nn.Module("Skinny")

function Skinny:init()
  self.score = nn.Linear(40, 1)                 -- 1 column, bias, relu
  self.three = nn.Linear(40, 3)                 -- 3 columns, + residual
  self.eight = nn.Linear(40, 8, false)          -- 8 columns, no bias, gelu
  self.nine = nn.Linear(40, 9)                  -- 9 columns: the GEMM (not skinny)
  self.col = nn.Parameter({16, 1})              -- [K, 1] used as it is
  self.small = nn.Linear(16, 5)                 -- 7 rows (a partial group of 4), K = 16
end

function Skinny:forward(x, r, v)
  return relu(self.score(x)), self.three(x) + r, gelu(self.eight(x)), self.nine(x),
         matmul(v, self.col), self.small(v)
end

local m = Skinny()
local a, b, c, d, e, f = m(input("x", {2, 2000, 40}), input("r", {2, 2000, 3}), input("v", {7, 16}))
output("score", a)
output("three", b)
output("eight", c)
output("nine", d)
output("col", e)
output("small", f)
