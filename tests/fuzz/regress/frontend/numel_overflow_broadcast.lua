local x = input("x", {1 << 40, 1})
local y = input("y", {1, 1 << 40})
output("z", x * y)
