-- Op-level compile-and-compare model (not an example): attentions whose key and value
-- projections (square Linears without bias) fold into the queries' and the output
-- product's weights (compiler/fold_projection.c: computed by the compiler with embedded
-- weights, by nodes of the graph that PREFIX_prepare runs with weights loaded at run time;
-- the case's two modes check both): one head read as it is, with a mask that empties a
-- query row (NaN, as in PyTorch) and 300 keys (two key blocks); the weights returned beside
-- P V (V folded, P written); the weights alone (K folded); seed 001's heads, one 8 x 8
-- projection for every head's slice, merged into a Linear; and the same heads projected by
-- parameters stored [in, out] (x @ W, not a Linear's x @ W^T), merged by one too.
-- PyTorch twin: tests/e2e/op_models.py.
--
-- inputs:  x [2, 40, 24], kv [2, 300, 24], mask [2, 40, 300] (bool, true = masked),
--          h [2, 40, 3, 8]
-- outputs: the results below, in order

local FoldProjection = nn.Module("FoldProjection")

function FoldProjection:init()
  self.q = nn.Linear(24, 24, false)
  self.k = nn.Linear(24, 24, false)
  self.v = nn.Linear(24, 24, false)
  self.o = nn.Linear(24, 10)
  self.hq = nn.Linear(8, 8, false)
  self.hk = nn.Linear(8, 8, false)
  self.hv = nn.Linear(8, 8, false)
  self.ho = nn.Linear(24, 24)
  self.pq = nn.Parameter({8, 8})
  self.pk = nn.Parameter({8, 8})
  self.pv = nn.Parameter({8, 8})
  self.po = nn.Parameter({24, 24})
end

function FoldProjection:forward(x, kv, mask, h)
  -- (each attention projects its own K and V: a projection read twice stays)
  local function scores(c) return matmul(self.q(x), self.k(kv):transpose(-2, -1)) * c end
  local cross = self.o(matmul(softmax(scores(0.2):masked_fill(mask, -math.huge), -1), self.v(kv)))
  local p = softmax(scores(0.5), -1)
  local with_p = self.o(matmul(p, self.v(kv)))
  local probs = softmax(scores(0.25), -1)
  local function heads(t) return t:permute(0, 2, 1, 3) end
  local e = matmul(heads(self.hq(h)), heads(self.hk(h)):transpose(-2, -1)) / 8
  local merged = heads(matmul(softmax(e, -1), heads(self.hv(h)))):reshape(2, 40, 24)
  local ep = matmul(heads(matmul(h, self.pq)), heads(matmul(h, self.pk)):transpose(-2, -1)) / 8
  local plain = heads(matmul(softmax(ep, -1), heads(matmul(h, self.pv)))):reshape(2, 40, 24)
  return cross, with_p, p, probs, self.ho(merged), matmul(plain, self.po)
end

local m = FoldProjection()
local a, b, c, d, e, f = m(input("x", {2, 40, 24}), input("kv", {2, 300, 24}),
                           input("mask", {2, 40, 300}, "bool"), input("h", {2, 40, 3, 8}))
output("cross", a)
output("with_p", b)
output("p", c)
output("probs", d)
output("heads", e)
output("heads_plain", f)
