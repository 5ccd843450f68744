-- expect: sandbox_string_dump.lua:2: error: attempt to call a nil value (field 'dump')
local f = load(string.dump(function() return 1 end))
output("y", input("x", {2, 3}))
