-- expect: numel_overflow_broadcast.lua:4: error: mul: the tensor would have more than 2^40 elements
local x = input("x", {1 << 40, 1})
local y = input("y", {1, 1 << 40})
output("z", x * y)
