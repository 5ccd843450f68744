-- expect: reshape_bad.lua:3: error: reshape: cannot view shape [2,3] (6 elements) as [4,2]
local x = input("x", {2, 3})
output("y", x:reshape(4, 2))
