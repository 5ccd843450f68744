-- expect: sandbox_load_bytecode.lua:3: error: attempt to load a binary chunk (mode is 't')
-- the header of a Lua 5.4 binary chunk: load accepts text only
local f = assert(load("\27LuaT\0\25\147\r\n\26\n\4\8\8"))
output("y", input("x", {2, 3}))
