-- expect: runtime_error.lua:3: error: attempt to call a nil value (global 'frobnicate')
local x = input("x", {2, 3})
output("y", frobnicate(x))
