-- expect: zero_dim.lua:2: error: input: dim 1 is 0, expected a positive size
local x = input("x", {2, 0})
output("y", x)
