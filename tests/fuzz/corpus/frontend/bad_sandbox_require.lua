-- expect: sandbox_require.lua:2: error: require: module 'nosuchmod' not found (looked for nosuchmod.lua beside the model)
local m = require("nosuchmod")
