-- expect: negative_dim.lua:2: error: input: dim 1 is -3, expected a positive size
local x = input("x", {2, -3})
output("y", x)
