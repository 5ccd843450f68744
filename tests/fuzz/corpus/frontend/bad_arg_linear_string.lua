-- expect: arg_linear_string.lua:2: error: nn.Linear: argument 1 must be a positive integer, got three
local fc = nn.Linear("three", 4)
output("y", fc(input("x", {2, 3})))
