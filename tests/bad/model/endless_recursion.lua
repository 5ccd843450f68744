-- expect: endless_recursion.lua:2: error: stack overflow
local function depth(n) return 1 + depth(n + 1) end
local x = input("x", {2, 3})
output("y", x * depth(0))
