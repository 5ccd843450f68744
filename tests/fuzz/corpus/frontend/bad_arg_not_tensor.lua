-- expect: arg_not_tensor.lua:3: error: matmul: expected a tensor, got string
local x = input("x", {2, 3})
output("y", matmul(x, "w"))
