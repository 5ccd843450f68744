-- mirrors: torch.nn.MultiheadAttention itself (seed 004, "pytorch多头注意力实现"), wrapped as
-- TorchMHA in tests/e2e/models.py so the weights are mha.in_proj_weight, mha.in_proj_bias,
-- mha.out_proj.weight, mha.out_proj.bias (mha.q_proj_weight/k_proj_weight/v_proj_weight
-- instead of mha.in_proj_weight when kdim or vdim differ from the embedding size).
-- Masks follow PyTorch: bool True = not allowed to attend; a float attn_mask is added to the
-- scaled scores.  (With bool masks a fully masked row gives NaN in PyTorch.)
--
-- defines: B (batch), LQ (target length), LK (source length), EMBED, HEADS,
--          BATCH_FIRST (1: [batch, seq, feature], 0: [seq, batch, feature]),
--          KDIM, VDIM (0 = EMBED, i.e. None), BIAS (0/1),
--          KEY_PADDING_MASK (0: none, 1: bool [B, LK]),
--          ATTN_MASK (0: none, 1: bool [LQ, LK], 2: float [LQ, LK] added to the scores),
--          NEED_WEIGHTS (0/1), AVERAGE (average_attn_weights, 0/1)
-- inputs:  query [B, LQ, EMBED] (BATCH_FIRST=0: [LQ, B, EMBED]), key [.., LK, KDIM],
--          value [.., LK, VDIM], key_padding_mask (KEY_PADDING_MASK=1), attn_mask (ATTN_MASK>0)
-- outputs: output (shaped like query), weights [B, LQ, LK] (AVERAGE=0: [B, HEADS, LQ, LK];
--          only when NEED_WEIGHTS=1)

local TorchMHA = nn.Module("TorchMHA")

function TorchMHA:init(embed_dim, num_heads, batch_first, bias, kdim, vdim, need_weights,
                       average_attn_weights)
  self.need_weights = need_weights
  self.average_attn_weights = average_attn_weights
  self.mha = nn.MultiheadAttention(embed_dim, num_heads,
                                   {bias = bias, batch_first = batch_first, kdim = kdim, vdim = vdim})
end

function TorchMHA:forward(query, key, value, key_padding_mask, attn_mask)
  return self.mha(query, key, value, {key_padding_mask = key_padding_mask,
                                      need_weights = self.need_weights, attn_mask = attn_mask,
                                      average_attn_weights = self.average_attn_weights})
end

local B = define("B", 2)
local LQ = define("LQ", 16)
local LK = define("LK", 16)
local EMBED = define("EMBED", 64)
local HEADS = define("HEADS", 4)
local BATCH_FIRST = define("BATCH_FIRST", 1)
local KDIM = define("KDIM", 0)
local VDIM = define("VDIM", 0)
local BIAS = define("BIAS", 1)
local KEY_PADDING_MASK = define("KEY_PADDING_MASK", 1)
local ATTN_MASK = define("ATTN_MASK", 0)
local NEED_WEIGHTS = define("NEED_WEIGHTS", 1)
local AVERAGE = define("AVERAGE", 1)

local kdim, vdim = nil, nil
if KDIM ~= 0 then kdim = KDIM end
if VDIM ~= 0 then vdim = VDIM end
local model = TorchMHA(EMBED, HEADS, BATCH_FIRST ~= 0, BIAS ~= 0, kdim, vdim,
                       NEED_WEIGHTS ~= 0, AVERAGE ~= 0)

local function seq_shape(len, feat)
  if BATCH_FIRST ~= 0 then return {B, len, feat} end
  return {len, B, feat}
end
local query = input("query", seq_shape(LQ, EMBED))
local key = input("key", seq_shape(LK, kdim or EMBED))
local value = input("value", seq_shape(LK, vdim or EMBED))
local key_padding_mask, attn_mask = nil, nil
if KEY_PADDING_MASK == 1 then
  key_padding_mask = input("key_padding_mask", {B, LK}, "bool")
end
if ATTN_MASK == 1 then
  attn_mask = input("attn_mask", {LQ, LK}, "bool")
elseif ATTN_MASK == 2 then
  attn_mask = input("attn_mask", {LQ, LK})
end

local out, weights = model(query, key, value, key_padding_mask, attn_mask)
output("output", out)
if NEED_WEIGHTS ~= 0 then
  output("weights", weights)
end
