-- a string pattern that backtracks without end: one C call, no Lua instruction
local s = string.rep("a", 60)
string.find(s, string.rep("a*", 30) .. "b")
local x = input("x", {2, 3})
output("y", x)
