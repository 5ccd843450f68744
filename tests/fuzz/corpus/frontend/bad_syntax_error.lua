-- expect: syntax_error.lua:3: error: unexpected symbol near ')'
local x = input("x", {2, 3})
output("y", x + )
