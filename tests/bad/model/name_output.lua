-- expect: name_output.lua:3: error: output: 'y */ x' is not a valid name (letters, digits and '_', not starting with a digit)
local x = input("x", {2, 3})
output("y */ x", x)
