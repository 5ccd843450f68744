-- expect: param_zero.lua:3: error: Parameter: dim 0 is 0, expected a positive size
local M = nn.Module("M")
function M:init() self.w = nn.Parameter({0, 3}) end
function M:forward(x) return x + self.w end
output("y", M()(input("x", {2, 3})))
