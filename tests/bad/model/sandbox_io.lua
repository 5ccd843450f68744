-- expect: sandbox_io.lua:2: error: attempt to index a nil value (global 'io')
local f = io.open("escaped", "w")
