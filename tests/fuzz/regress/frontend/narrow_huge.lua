-- expect: narrow_huge.lua:3: error: narrow: start 4611686018427387904, length 4611686018427387904 is outside dim 1 of shape [2,3]
local x = input("x", {2, 3})
output("y", x:narrow(1, 1 << 62, 1 << 62))
