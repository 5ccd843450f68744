-- expect: no_output.lua: error: the model declares no outputs (call output(name, tensor))
local x = input("x", {2, 3})
local y = x + 1
