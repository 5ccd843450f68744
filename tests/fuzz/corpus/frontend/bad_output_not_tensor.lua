-- expect: output_not_tensor.lua:3: error: output 'y': expected a tensor, got number
local x = input("x", {2, 3})
output("y", 3)
