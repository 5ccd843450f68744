-- expect: narrow_zero.lua:3: error: narrow: length 0, expected a positive length
local x = input("x", {2, 3})
output("y", x:narrow(1, 0, 0))
