-- blocks.lua: required by model.lua; -MD lists it, so editing it reruns attncc.
local Block = nn.Module("Block")
function Block:init(d_in, d_out) self.fc = nn.Linear(d_in, d_out) end
function Block:forward(x) return relu(self.fc(x)) end
return Block
