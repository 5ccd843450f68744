-- expect: name_input.lua:2: error: input: 'a b;*/' is not a valid name (letters, digits and '_', not starting with a digit)
local x = input("a b;*/", {2, 3})
output("y", x)
