-- expect: output_no_input.lua:3: error: output 'y' does not depend on any input
local x = input("x", {2, 3})
output("y", ones({2, 3}) * 2)
