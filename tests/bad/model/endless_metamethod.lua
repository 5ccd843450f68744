-- expect: endless_metamethod.lua:2: error: C stack overflow
local t = setmetatable({}, {__index = function(t, k) return t[k] end})
local x = input("x", {2, 3})
output("y", x * t.scale)
