-- mirrors: SelfAttention(embed_size, heads) from seed 001 ("Transformer中的自注意力机制详解与代码实现");
-- PyTorch twin in tests/e2e/models.py.  One head_dim x head_dim projection (no bias) shared by
-- all heads, einsum attention, masked_fill(mask == 0, -1e20), softmax(energy / embed_size^(1/2)).
-- (The seed's `self.embed_size # (1 / 2)` is a typo for `** (1 / 2)`.)
--
-- defines: N (batch), QLEN (query length), KLEN (key/value length), EMBED, HEADS,
--          MASK: 0 = no mask (mask is nil), 1 = key padding mask [N, 1, 1, KLEN],
--                2 = full mask [N, 1, QLEN, KLEN] (e.g. causal); int64, 0 = masked out
-- inputs:  values [N, KLEN, EMBED], keys [N, KLEN, EMBED], query [N, QLEN, EMBED], mask (MASK > 0)
-- outputs: out [N, QLEN, EMBED]

local SelfAttention = require("modules.seed001_attention")

local N = define("N", 2)
local QLEN = define("QLEN", 16)
local KLEN = define("KLEN", 16)
local EMBED = define("EMBED", 64)
local HEADS = define("HEADS", 4)
local MASK = define("MASK", 1)

local model = SelfAttention(EMBED, HEADS)
local values = input("values", {N, KLEN, EMBED})
local keys = input("keys", {N, KLEN, EMBED})
local query = input("query", {N, QLEN, EMBED})
local mask = nil
if MASK == 1 then
  mask = input("mask", {N, 1, 1, KLEN}, "int64")
elseif MASK == 2 then
  mask = input("mask", {N, 1, QLEN, KLEN}, "int64")
end
output("out", model(values, keys, query, mask))
