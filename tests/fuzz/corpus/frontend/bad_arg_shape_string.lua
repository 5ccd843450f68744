-- expect: arg_shape_string.lua:2: error: bad argument #2 to 'input' (table expected, got string)
local x = input("x", "2x3")
output("y", x)
