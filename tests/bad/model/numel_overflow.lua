-- expect: numel_overflow.lua:2: error: input: the tensor would have more than 2^40 elements
local x = input("x", {1 << 30, 1 << 30, 1 << 30})
output("y", x)
