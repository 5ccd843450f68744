-- expect: memory_limit.lua: error: model.lua used more than 4096 MiB of memory
-- one allocation of 17 x 256 MiB: refused by the 4096 MiB limit before it is made
local s = string.rep("x", 1 << 28)
local t = s..s..s..s..s..s..s..s..s..s..s..s..s..s..s..s..s
output("y", input("x", {2, #t}))
