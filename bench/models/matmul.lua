-- bench model: one GEMM, an input times a parameter: y = x @ weight, weight [K, N].
-- PyTorch twin `MatMul` in bench/run_bench.py (torch.matmul(x, self.weight)); the
-- benchmark also times numpy.dot on the same arrays.
--
-- defines: M, K, N
-- inputs:  x [M, K]
-- outputs: y [M, N]

local MatMul = nn.Module("MatMul")

function MatMul:init(k, n)
  self.weight = nn.Parameter({k, n})
end

function MatMul:forward(x)
  return matmul(x, self.weight)
end

local M = define("M", 128)
local K = define("K", 256)
local N = define("N", 768)

local model = MatMul(K, N)
local x = input("x", {M, K})
output("y", model(x))
