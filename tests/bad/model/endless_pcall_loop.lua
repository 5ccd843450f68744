-- expect: endless_pcall_loop.lua:4: error: model.lua ran for more than 2000 million Lua instructions (an endless loop?)
-- a pcall cannot catch the instruction limit and go on looping
local x = input("x", {2, 3})
while true do pcall(function() while true do end end) end
