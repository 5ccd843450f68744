-- expect: name_attribute.lua:3: error: 'w */ int evil; /*' is not a valid module attribute name (letters, digits and '_')
local M = nn.Module("M")
function M:init() self["w */ int evil; /*"] = nn.Parameter({3}) end
function M:forward(x) return x end
output("y", M()(input("x", {2, 3})))
