-- expect: unknown_module.lua:2: error: nn.Frobnicator is not available in attncc
local m = nn.Frobnicator(3)
output("y", m(input("x", {2, 3})))
