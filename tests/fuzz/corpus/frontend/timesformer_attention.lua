-- mirrors: TimeSformer-style Attention(dim, num_heads, qkv_bias, qk_scale, attn_drop, proj_drop,
-- with_qkv, num_ttokens) with a learned relative position bias over the temporal tokens,
-- from seed 003; PyTorch twin `Attention` in tests/e2e/models.py.
-- relative_position_bias_table [2T-1, heads] is gathered by the constant index
-- relative_coords[i][j] = i - j + T - 1 (a non-persistent buffer in PyTorch: not in the weights).
--
-- defines: B (batch), T (num_ttokens = sequence length N), DIM, HEADS,
--          WITH_QKV (1: qkv/proj Linear layers, 0: q = k = v = x split into heads, no qkv/proj),
--          QKV_BIAS (0/1, qkv_bias), QK_SCALE (0 = None, i.e. head_dim^-0.5; else the scale)
-- inputs:  x [B, T, DIM]
-- outputs: out [B, T, DIM]

local Attention = nn.Module("Attention")

function Attention:init(dim, num_heads, qkv_bias, qk_scale, attn_drop, proj_drop, with_qkv, num_ttokens)
  if num_heads == nil then num_heads = 8 end
  if qkv_bias == nil then qkv_bias = false end
  if attn_drop == nil then attn_drop = 0.0 end
  if proj_drop == nil then proj_drop = 0.0 end
  if with_qkv == nil then with_qkv = true end
  if num_ttokens == nil then num_ttokens = 8 end

  self.num_heads = num_heads
  local head_dim = dim // num_heads
  self.scale = qk_scale or head_dim ^ -0.5
  self.with_qkv = with_qkv
  self.num_ttokens = num_ttokens
  if self.with_qkv then
    self.qkv = nn.Linear(dim, dim * 3, {bias = qkv_bias})
    self.proj = nn.Linear(dim, dim)
    self.proj_drop = nn.Dropout(proj_drop)
  end
  self.attn_drop = nn.Dropout(attn_drop)

  self.relative_position_bias_table = nn.Parameter({2 * num_ttokens - 1, num_heads})
  local coords = arange(num_ttokens)
  local relative_coords = coords:unsqueeze(1) - coords:unsqueeze(0) + (num_ttokens - 1)  -- [T, T]
  self:register_buffer("relative_coords", relative_coords)
end

function Attention:forward(x)
  local B, N, C = x:size()
  local q, k, v
  if self.with_qkv then
    local qkv = self.qkv(x):reshape(B, N, 3, self.num_heads, C // self.num_heads):permute(2, 0, 3, 1, 4)
    q, k, v = qkv:select(0, 0), qkv:select(0, 1), qkv:select(0, 2)
  else
    local qkv = x:reshape(B, N, self.num_heads, C // self.num_heads):permute(0, 2, 1, 3)
    q, k, v = qkv, qkv, qkv
  end

  -- get relative pos bias: table[relative_coords] -> [T, T, heads] -> [heads, T, T]
  local relative_pos_bias = self.relative_position_bias_table:gather_rows(self.relative_coords)
    :view(self.num_ttokens, self.num_ttokens, -1):permute(2, 0, 1):contiguous()
  local attn = matmul(q, k:transpose(-2, -1)) * self.scale
  attn = attn + relative_pos_bias:unsqueeze(0)
  attn = attn:softmax(-1)
  attn = self.attn_drop(attn)

  x = matmul(attn, v):transpose(1, 2):reshape(B, N, C)
  if self.with_qkv then
    x = self.proj(x)
    x = self.proj_drop(x)
  end
  return x
end

local B = define("B", 2)
local T = define("T", 8)
local DIM = define("DIM", 64)
local HEADS = define("HEADS", 4)
local WITH_QKV = define("WITH_QKV", 1)
local QKV_BIAS = define("QKV_BIAS", 0)
local QK_SCALE = define("QK_SCALE", 0)

local qk_scale = nil
if QK_SCALE ~= 0 then qk_scale = QK_SCALE end
local model = Attention(DIM, HEADS, QKV_BIAS ~= 0, qk_scale, 0.0, 0.0, WITH_QKV ~= 0, T)
local x = input("x", {B, T, DIM})
output("out", model(x))
