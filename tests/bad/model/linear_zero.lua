-- expect: linear_zero.lua:2: error: nn.Linear: argument 1 must be a positive integer, got 0
local fc = nn.Linear(0, 4)
output("y", fc(input("x", {2, 3})))
