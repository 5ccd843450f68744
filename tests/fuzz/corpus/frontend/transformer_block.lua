-- mirrors: TransformerBlock(embed_size, heads, dropout, forward_expansion) from seed 001
-- ("Transformer中的自注意力机制详解与代码实现"); PyTorch twin in tests/e2e/models.py.
-- Post-norm block: x = dropout(norm1(attention(value, key, query, mask) + query));
-- out = dropout(norm2(feed_forward(x) + x)).  SelfAttention is seed 001's einsum attention,
-- shared with examples/selfattention_einsum.lua through examples/modules/seed001_attention.lua.
--
-- defines: B (batch), QLEN (query length), KLEN (key/value length), EMBED, HEADS,
--          EXPANSION (forward_expansion),
--          MASK: 0 = no mask (mask is nil), 1 = key padding mask [B, 1, 1, KLEN],
--                2 = full mask [B, 1, QLEN, KLEN] (e.g. causal); int64, 0 = masked out
-- inputs:  value [B, KLEN, EMBED], key [B, KLEN, EMBED], query [B, QLEN, EMBED], mask (MASK > 0)
-- outputs: out [B, QLEN, EMBED]

local SelfAttention = require("modules.seed001_attention")

local TransformerBlock = nn.Module("TransformerBlock")

function TransformerBlock:init(embed_size, heads, dropout, forward_expansion)
  self.attention = SelfAttention(embed_size, heads)
  self.norm1 = nn.LayerNorm(embed_size)
  self.norm2 = nn.LayerNorm(embed_size)

  self.feed_forward = nn.Sequential(
    nn.Linear(embed_size, forward_expansion * embed_size),
    nn.ReLU(),
    nn.Linear(forward_expansion * embed_size, embed_size)
  )

  self.dropout = nn.Dropout(dropout)
end

function TransformerBlock:forward(value, key, query, mask)
  local attention = self.attention(value, key, query, mask)

  -- Add a skip connection and apply layer normalization
  local x = self.dropout(self.norm1(attention + query))
  local forward = self.feed_forward(x)
  local out = self.dropout(self.norm2(forward + x))
  return out
end

local B = define("B", 2)
local QLEN = define("QLEN", 16)
local KLEN = define("KLEN", 16)
local EMBED = define("EMBED", 64)
local HEADS = define("HEADS", 4)
local EXPANSION = define("EXPANSION", 4)
local MASK = define("MASK", 1)

local model = TransformerBlock(EMBED, HEADS, 0.1, EXPANSION)
local value = input("value", {B, KLEN, EMBED})
local key = input("key", {B, KLEN, EMBED})
local query = input("query", {B, QLEN, EMBED})
local mask = nil
if MASK == 1 then
  mask = input("mask", {B, 1, 1, KLEN}, "int64")
elseif MASK == 2 then
  mask = input("mask", {B, 1, QLEN, KLEN}, "int64")
end
output("out", model(value, key, query, mask))
