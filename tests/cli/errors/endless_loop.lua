-- expect: endless_loop.lua:3: error: model.lua ran for more than
local x = input("x", {2, 3})
while true do x = x end
