-- expect: linear_negative.lua:2: error: nn.Linear: argument 2 must be a positive integer, got -4
local fc = nn.Linear(3, -4)
output("y", fc(input("x", {2, 3})))
