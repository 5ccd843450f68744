-- lin.lua: the model every weights case of the bad-input corpus is loaded for
local M = nn.Module("M")
function M:init() self.fc = nn.Linear(3, 4) end
function M:forward(x) return self.fc(x) end
output("y", M()(input("x", {2, 3})))
