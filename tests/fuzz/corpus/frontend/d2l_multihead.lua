-- mirrors: d2l's MultiHeadAttention(key_size, query_size, value_size, num_hiddens, num_heads,
-- dropout, bias=False) with d2l.DotProductAttention, masked_softmax and sequence_mask,
-- from seed 003; PyTorch twin `D2LMultiHeadAttention` in tests/e2e/models.py.
-- valid_lens [B] (per sequence) or [B, LQ] (per query) is repeated num_heads times along dim 0;
-- keys at positions >= valid_len get the score -1e6 (a valid_len of 0 gives uniform weights).
--
-- defines: B (batch), LQ (number of queries), LK (number of key-value pairs),
--          QUERY_SIZE, KEY_SIZE, VALUE_SIZE, HIDDENS (num_hiddens), HEADS, BIAS (0/1),
--          VALID_LENS_DIMS: 0 = no valid_lens (nil), 1 = valid_lens [B], 2 = valid_lens [B, LQ]
-- inputs:  queries [B, LQ, QUERY_SIZE], keys [B, LK, KEY_SIZE], values [B, LK, VALUE_SIZE],
--          valid_lens (int64, VALID_LENS_DIMS > 0)
-- outputs: out [B, LQ, HIDDENS]

-- d2l.sequence_mask: X[~mask] = value where mask = arange(maxlen)[None, :] < valid_len[:, None]
local function sequence_mask(X, valid_len, value)
  value = value or 0
  local maxlen = X:size(1)
  local mask = arange(maxlen):float():unsqueeze(0):lt(valid_len:unsqueeze(1))
  return X:masked_fill(mask:logical_not(), value)
end

-- d2l.masked_softmax: softmax over the last axis, masking elements
local function masked_softmax(X, valid_lens)
  if valid_lens == nil then
    return softmax(X, -1)
  else
    local shape = X.shape          -- 0-based like PyTorch's X.shape
    local dims = {X:size()}        -- the same sizes as a Lua list, for reshape
    if valid_lens:dim() == 1 then
      valid_lens = valid_lens:repeat_interleave(shape[1], 0)
    else
      valid_lens = valid_lens:reshape(-1)
    end
    -- masked elements on the last axis are replaced with a very large negative value
    X = sequence_mask(X:reshape(-1, shape[-1]), valid_lens, -1e6)
    return softmax(X:reshape(dims), -1)
  end
end

local DotProductAttention = nn.Module("DotProductAttention")

function DotProductAttention:init(dropout)
  self.dropout = nn.Dropout(dropout)
end

function DotProductAttention:forward(queries, keys, values, valid_lens)
  local d = queries.shape[-1]
  local scores = matmul(queries, keys:transpose(1, 2)) / math.sqrt(d)
  local attention_weights = masked_softmax(scores, valid_lens)
  return matmul(self.dropout(attention_weights), values)
end

local function transpose_qkv(X, num_heads)
  X = X:reshape(X.shape[0], X.shape[1], num_heads, -1)
  X = X:permute(0, 2, 1, 3)
  return X:reshape(-1, X.shape[2], X.shape[3])
end

local function transpose_output(X, num_heads)
  X = X:reshape(-1, num_heads, X.shape[1], X.shape[2])
  X = X:permute(0, 2, 1, 3)
  return X:reshape(X.shape[0], X.shape[1], -1)
end

local MultiHeadAttention = nn.Module("MultiHeadAttention")

function MultiHeadAttention:init(key_size, query_size, value_size, num_hiddens, num_heads, dropout, bias)
  if bias == nil then bias = false end
  self.num_heads = num_heads
  self.attention = DotProductAttention(dropout)
  self.W_q = nn.Linear(query_size, num_hiddens, {bias = bias})
  self.W_k = nn.Linear(key_size, num_hiddens, {bias = bias})
  self.W_v = nn.Linear(value_size, num_hiddens, {bias = bias})
  self.W_o = nn.Linear(num_hiddens, num_hiddens, {bias = bias})
end

function MultiHeadAttention:forward(queries, keys, values, valid_lens)
  queries = transpose_qkv(self.W_q(queries), self.num_heads)
  keys = transpose_qkv(self.W_k(keys), self.num_heads)
  values = transpose_qkv(self.W_v(values), self.num_heads)
  if valid_lens ~= nil then
    valid_lens = valid_lens:repeat_interleave(self.num_heads, 0)
  end
  local output = self.attention(queries, keys, values, valid_lens)
  local output_concat = transpose_output(output, self.num_heads)
  return self.W_o(output_concat)
end

local B = define("B", 2)
local LQ = define("LQ", 8)
local LK = define("LK", 12)
local QUERY_SIZE = define("QUERY_SIZE", 20)
local KEY_SIZE = define("KEY_SIZE", 24)
local VALUE_SIZE = define("VALUE_SIZE", 28)
local HIDDENS = define("HIDDENS", 64)
local HEADS = define("HEADS", 4)
local BIAS = define("BIAS", 0)
local VALID_LENS_DIMS = define("VALID_LENS_DIMS", 1)

local model = MultiHeadAttention(KEY_SIZE, QUERY_SIZE, VALUE_SIZE, HIDDENS, HEADS, 0.5, BIAS ~= 0)
local queries = input("queries", {B, LQ, QUERY_SIZE})
local keys = input("keys", {B, LK, KEY_SIZE})
local values = input("values", {B, LK, VALUE_SIZE})
local valid_lens = nil
if VALID_LENS_DIMS == 1 then
  valid_lens = input("valid_lens", {B}, "int64")
elseif VALID_LENS_DIMS == 2 then
  valid_lens = input("valid_lens", {B, LQ}, "int64")
end
output("out", model(queries, keys, values, valid_lens))
