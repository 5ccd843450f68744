-- expect: output_twice.lua:4: error: output: 'y' is declared twice
local x = input("x", {2, 3})
output("y", x)
output("y", x * 2)
