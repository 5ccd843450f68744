-- expect: sandbox_require_c.lua:2: error: require: module 'socket.core' not found (looked for socket/core.lua beside the model)
local socket = require("socket.core")
output("y", input("x", {2, 3}))
