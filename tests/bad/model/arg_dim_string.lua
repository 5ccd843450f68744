-- expect: arg_dim_string.lua:3: error: softmax: dim must be an integer, got string
local x = input("x", {2, 3})
output("y", softmax(x, "last"))
