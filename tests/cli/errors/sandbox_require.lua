-- expect: sandbox_require.lua:2: error: require: module 'nosuchmod' not found
local m = require("nosuchmod")
