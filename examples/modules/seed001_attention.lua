-- seed001_attention.lua: seed 001's multi-head SelfAttention(embed_size, heads), shared by
-- examples/selfattention_einsum.lua and examples/transformer_block.lua (require("modules.seed001_attention")).
-- One head_dim x head_dim projection (no bias) shared by all heads, einsum attention,
-- masked_fill(mask == 0, -1e20), softmax(energy / embed_size^(1/2)).

local SelfAttention = nn.Module("SelfAttention")

function SelfAttention:init(embed_size, heads)
  self.embed_size = embed_size
  self.heads = heads
  self.head_dim = embed_size // heads
  assert(self.head_dim * heads == embed_size, "Embedding size needs to be divisible by heads")

  self.values = nn.Linear(self.head_dim, self.head_dim, {bias = false})
  self.keys = nn.Linear(self.head_dim, self.head_dim, {bias = false})
  self.queries = nn.Linear(self.head_dim, self.head_dim, {bias = false})
  self.fc_out = nn.Linear(heads * self.head_dim, embed_size)
end

function SelfAttention:forward(values, keys, query, mask)
  local N = query.shape[0]
  local value_len, key_len, query_len = values.shape[1], keys.shape[1], query.shape[1]

  -- Split the embedding into self.heads different pieces
  values = values:reshape(N, value_len, self.heads, self.head_dim)
  keys = keys:reshape(N, key_len, self.heads, self.head_dim)
  local queries = query:reshape(N, query_len, self.heads, self.head_dim)

  values = self.values(values)
  keys = self.keys(keys)
  queries = self.queries(queries)

  local energy = einsum("nqhd,nkhd->nhqk", queries, keys)
  if mask ~= nil then
    energy = energy:masked_fill(mask:eq(0), -1e20)
  end

  local attention = softmax(energy / (self.embed_size ^ (1 / 2)), 3)
  local out = einsum("nhql,nlhd->nqhd", attention, values):reshape(
    N, query_len, self.heads * self.head_dim)

  out = self.fc_out(out)
  return out
end

return SelfAttention
