-- expect: user_error.lua:3: error: expected 4 features
local x = input("x", {2, 3})
if x:size(1) ~= 4 then error("expected 4 features") end
output("y", x)
