-- expect: many_nodes.lua:3: error: model.lua created more than 1048576 operations
local x = input("x", {2, 3})
for i = 1, 2000000 do x = x + 1 end
output("y", x)
