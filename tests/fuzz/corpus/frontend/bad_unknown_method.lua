-- expect: unknown_method.lua:3: error: tensor has no field or method 'frobnicate'
local x = input("x", {2, 3})
output("y", x:frobnicate())
