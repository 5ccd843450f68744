-- mirrors: MultiHeadAttention(d_model, num_heads) with Wq/Wk/Wv/fc, split_heads and
-- scaled_dot_product_attention (masked_fill(mask == 0, -1e9)), returning (output, attention),
-- from seed 003; PyTorch twin `MultiHeadAttentionMask` in tests/e2e/models.py.
-- A fully masked row gets the score -1e9 everywhere, i.e. uniform weights (as in PyTorch).
--
-- defines: B (batch), LQ (query length), LK (key/value length), D_MODEL, HEADS,
--          MASK: 0 = no mask (nil), 1 = key padding mask [B, 1, 1, LK], 2 = full mask [B, 1, LQ, LK];
--          MASK_DTYPE: "int64" (0/1) or "bool" (false = masked out); both are compared with == 0
-- inputs:  Q [B, LQ, D_MODEL], K [B, LK, D_MODEL], V [B, LK, D_MODEL], mask (MASK > 0)
-- outputs: output [B, LQ, D_MODEL], attention [B, HEADS, LQ, LK]

local MultiHeadAttention = nn.Module("MultiHeadAttention")

function MultiHeadAttention:init(d_model, num_heads)
  self.num_heads = num_heads
  self.d_model = d_model
  assert(d_model % self.num_heads == 0)
  self.depth = d_model // self.num_heads
  self.Wq = nn.Linear(d_model, d_model)
  self.Wk = nn.Linear(d_model, d_model)
  self.Wv = nn.Linear(d_model, d_model)
  self.fc = nn.Linear(d_model, d_model)
end

function MultiHeadAttention:scaled_dot_product_attention(Q, K, V, mask)
  local d_k = Q:size(-1)
  local scores = matmul(Q, K:transpose(-1, -2)) / math.sqrt(d_k)
  if mask ~= nil then
    scores = scores:masked_fill(mask:eq(0), -1e9)
  end
  local attention = softmax(scores, -1)
  local output = matmul(attention, V)
  return output, attention
end

function MultiHeadAttention:split_heads(x, batch_size)
  x = x:view(batch_size, -1, self.num_heads, self.depth)
  return x:permute(0, 2, 1, 3)
end

function MultiHeadAttention:forward(Q, K, V, mask)
  local batch_size = Q:size(0)
  Q = self.Wq(Q)
  K = self.Wk(K)
  V = self.Wv(V)
  Q = self:split_heads(Q, batch_size)
  K = self:split_heads(K, batch_size)
  V = self:split_heads(V, batch_size)
  local scaled_attention, attention = self:scaled_dot_product_attention(Q, K, V, mask)
  scaled_attention = scaled_attention:permute(0, 2, 1, 3):contiguous()
  scaled_attention = scaled_attention:view(batch_size, -1, self.d_model)
  local output = self.fc(scaled_attention)
  return output, attention
end

local B = define("B", 2)
local LQ = define("LQ", 16)
local LK = define("LK", 16)
local D_MODEL = define("D_MODEL", 64)
local HEADS = define("HEADS", 4)
local MASK = define("MASK", 2)
local MASK_DTYPE = define("MASK_DTYPE", "int64")

local model = MultiHeadAttention(D_MODEL, HEADS)
local Q = input("Q", {B, LQ, D_MODEL})
local K = input("K", {B, LK, D_MODEL})
local V = input("V", {B, LK, D_MODEL})
local mask = nil
if MASK == 1 then
  mask = input("mask", {B, 1, 1, LK}, MASK_DTYPE)
elseif MASK == 2 then
  mask = input("mask", {B, 1, LQ, LK}, MASK_DTYPE)
end
local output_, attention = model(Q, K, V, mask)
output("output", output_)
output("attention", attention)
