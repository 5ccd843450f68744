-- expect: sandbox_loadlib.lua:2: error: attempt to index a nil value (global 'package')
local f = package.loadlib("./escaped.so", "luaopen_escaped")
output("y", input("x", {2, 3}))
