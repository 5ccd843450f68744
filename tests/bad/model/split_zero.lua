-- expect: split_zero.lua:3: error: split: split_size must be a positive integer, got 0
local x = input("x", {2, 3})
output("y", x:split(0, 1)[1])
