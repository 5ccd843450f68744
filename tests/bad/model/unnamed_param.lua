-- expect: unnamed_param.lua:2: error: nn.Parameter is not assigned to a module attribute (self.name = nn.Parameter(...)), so it has no state_dict name
local w = nn.Parameter({3, 3})
local x = input("x", {2, 3})
output("y", matmul(x, w))
