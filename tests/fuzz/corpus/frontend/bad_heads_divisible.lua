-- expect: heads_divisible.lua:2: error: nn.MultiheadAttention: embed_dim 10 is not divisible by num_heads 3
local mha = nn.MultiheadAttention(10, 3)
local x = input("x", {4, 1, 10})
output("y", mha(x, x, x))
