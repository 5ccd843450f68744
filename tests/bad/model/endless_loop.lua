-- expect: endless_loop.lua:3: error: model.lua ran for more than 2000 million Lua instructions (an endless loop?)
local x = input("x", {2, 3})
while true do x = x end
