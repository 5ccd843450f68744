-- expect: arg_dtype.lua:2: error: unknown dtype 'float16' (expected float32, int32, int64 or bool)
local x = input("x", {2, 3}, "float16")
output("y", x)
