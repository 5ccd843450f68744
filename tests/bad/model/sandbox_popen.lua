-- expect: sandbox_popen.lua:2: error: attempt to index a nil value (global 'io')
local p = io.popen("touch escaped")
output("y", input("x", {2, 3}))
