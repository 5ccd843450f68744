-- expect: nested_module.lua:6: error: add: shapes [2,5,8] and [7] cannot be broadcast (dim -1 = 8 vs 7) (in layers.1.inner)
local Inner = nn.Module("Inner")
function Inner:init(d) self.b = nn.Parameter({d}) end
function Inner:forward(x)
  local y = x * 2
  return y + self.b
end
local Outer = nn.Module("Outer")
function Outer:init() self.inner = Inner(7) end
function Outer:forward(x) local r = self.inner(x) return r end
local Model = nn.Module("Model")
function Model:init() self.layers = nn.ModuleList({Outer(), Outer()}) end
function Model:forward(x) local r = self.layers[1](x) return r end
output("y", Model()(input("x", {2, 5, 8})))
