-- expect: sandbox_loadfile.lua:2: error: attempt to call a nil value (global 'loadfile')
local f = loadfile("/etc/passwd")
output("y", input("x", {2, 3}))
