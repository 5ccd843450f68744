-- Op-level compile-and-compare model (not an example): products whose residual is a
-- tensor of the model's own that dies there, so the memory plan writes the product over it
-- (compiler/memplan.c, in_place_residual): a GEMM of one K block and 1000 rows, which
-- --threads 2 splits by rows; a GEMM 1000 deep (two K blocks: the first loads the
-- residual, the second the partial sums over it) with 5 rows, whose column panels --threads
-- 2 splits; a skinny product (3 columns) with a ReLU before the residual; and one whose
-- residual is also its left operand (not in place: its tiles would overwrite rows of A
-- before its other column panels read them). Each result goes through a tanh, so it is an
-- intermediate, not the caller's buffer.
-- PyTorch twin: tests/e2e/op_models.py.
--
-- inputs:  x [2, 500, 40], u [5, 1000], w [5, 480]
-- outputs: one_block, deep, skinny, self_residual

local ResidualInPlace = nn.Module("ResidualInPlace")

function ResidualInPlace:init()
  self.wide = nn.Linear(40, 40)         -- 40 columns, one K block
  self.deep = nn.Linear(1000, 480)      -- 1000 deep, 5 rows
  self.three = nn.Linear(40, 3)         -- skinny, relu, + residual
  self.same = nn.Linear(40, 40, false)  -- the residual is its own input
end

function ResidualInPlace:forward(x, u, w)
  local h = relu(x)
  local one_block = self.wide(h) + tanh(x)
  local deep = self.deep(relu(u)) + tanh(w)
  local skinny = relu(self.three(h)) + tanh(x):narrow(2, 0, 3) * 2
  local t = tanh(x) * 3
  local self_residual = self.same(t) + t
  return tanh(one_block), tanh(deep), tanh(skinny), tanh(self_residual)
end

local m = ResidualInPlace()
local a, b, c, d = m(input("x", {2, 500, 40}), input("u", {5, 1000}), input("w", {5, 480}))
output("one_block", a)
output("deep", b)
output("skinny", c)
output("self_residual", d)
