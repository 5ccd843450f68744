-- expect: arith_on_nil.lua:4: error: mul: expected a tensor, got nil
local x = input("x", {2, 3})
local cfg = {}
output("y", x * cfg.scale + 1)
