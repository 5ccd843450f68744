-- model.lua: the tiny model of tests/build (docs/EMBEDDING.md, "attncc as a build step"):
-- a Linear layer from blocks.lua (required, so the depfile names it) and a ReLU.
local Block = require("blocks")
local B = define("B", 2)
output("y", Block(4, 3)(input("x", {B, 4})))
