-- expect: no_output.lua: error: the model declares no outputs
local x = input("x", {2, 3})
local y = x + 1
