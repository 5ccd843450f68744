-- expect: sandbox_require_path.lua:2: error: require: '../../etc/passwd' is not a module name (letters, digits, '_' and '.')
local m = require("../../etc/passwd")
output("y", input("x", {2, 3}))
