-- expect: bad_dim.lua:3: error: softmax: dim 3 is out of range for shape [2,3] (expected -2..1)
local x = input("x", {2, 3})
output("y", softmax(x, 3))
