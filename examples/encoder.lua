-- mirrors: torch.nn.TransformerEncoder(TransformerEncoderLayer(EMBED, HEADS, FFN, dropout,
-- batch_first=True), LAYERS): a stack of post-norm encoder layers with the structure of
-- examples/transformer_block.lua's TransformerBlock (x = norm1(attention(x) + x);
-- out = norm2(feed_forward(x) + x), ReLU feed-forward), but with full-width Q/K/V
-- projections (nn.MultiheadAttention) as BERT has, so that state_dict names are PyTorch's:
-- layers.N.self_attn.in_proj_weight, layers.N.linear1.weight, layers.N.norm1.bias, ...
-- The default is BERT-base's encoder: 12 layers, d=768, 12 heads, FFN 3072, 85,054,464
-- parameters (7,087,872 per layer). Identical layers share their kernel functions, so the
-- generated code does not grow with LAYERS; only the weights do (see docs/EMBEDDING.md).
--
-- defines: LAYERS, B (batch), SEQ (sequence length), EMBED, HEADS, FFN (feed-forward width)
-- inputs:  x [B, SEQ, EMBED]
-- outputs: y [B, SEQ, EMBED]

local EncoderLayer = nn.Module("EncoderLayer")

function EncoderLayer:init(d_model, nhead, dim_feedforward, dropout)
  self.self_attn = nn.MultiheadAttention(d_model, nhead, {batch_first = true})
  self.linear1 = nn.Linear(d_model, dim_feedforward)
  self.dropout = nn.Dropout(dropout)
  self.linear2 = nn.Linear(dim_feedforward, d_model)
  self.norm1 = nn.LayerNorm(d_model)
  self.norm2 = nn.LayerNorm(d_model)
  self.dropout1 = nn.Dropout(dropout)
  self.dropout2 = nn.Dropout(dropout)
end

function EncoderLayer:forward(x)
  local attention = self.self_attn(x, x, x, {need_weights = false})
  x = self.norm1(x + self.dropout1(attention))
  local forward = self.linear2(self.dropout(relu(self.linear1(x))))
  x = self.norm2(x + self.dropout2(forward))
  return x
end

local Encoder = nn.Module("Encoder")

function Encoder:init(layers, d_model, nhead, dim_feedforward, dropout)
  local list = {}
  for i = 1, layers do
    list[i] = EncoderLayer(d_model, nhead, dim_feedforward, dropout)
  end
  self.layers = nn.ModuleList(list)
end

function Encoder:forward(x)
  for _, layer in self.layers:items() do
    x = layer(x)
  end
  return x
end

local LAYERS = define("LAYERS", 12)
local B = define("B", 1)
local SEQ = define("SEQ", 128)
local EMBED = define("EMBED", 768)
local HEADS = define("HEADS", 12)
local FFN = define("FFN", 4 * EMBED)

local model = Encoder(LAYERS, EMBED, HEADS, FFN, 0.1)
output("y", model(input("x", {B, SEQ, EMBED})))
