-- expect: unknown_torch_op.lua:3: error: torch.frobnicate is not available in attncc
local x = input("x", {2, 3})
output("y", torch.frobnicate(x))
