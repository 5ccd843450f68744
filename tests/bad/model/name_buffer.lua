-- expect: name_buffer.lua:3: error: 'b"' is not a valid module attribute name (letters, digits and '_')
local M = nn.Module("M")
function M:init() self:register_buffer("b\"", zeros({3})) end
function M:forward(x) return x + self["b\""] end
output("y", M()(input("x", {2, 3})))
