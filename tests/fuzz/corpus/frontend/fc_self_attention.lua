-- mirrors: FullyConnectedLayer (with SelfAttentionLayer and FeedForwardLayer)
-- from seed 000 ("实现一个基于自注意力的全连接层模型"); PyTorch twin in tests/e2e/models.py.
-- x = x + self_attention_layers[i](x); x = x + feed_forward_layers[i](x), num_layers times.
--
-- defines: B (batch), SEQ (sequence length), DIM (model width), LAYERS (num_layers)
-- inputs:  x [B, SEQ, DIM]
-- outputs: out [B, SEQ, DIM]

local SelfAttentionLayer = nn.Module("SelfAttentionLayer")

function SelfAttentionLayer:init(dim, dropout)
  dropout = dropout or 0.1
  self.dim = dim
  self.dropout = dropout
  self.q_layer = nn.Linear(dim, dim)
  self.k_layer = nn.Linear(dim, dim)
  self.v_layer = nn.Linear(dim, dim)
  self.dropout_layer = nn.Dropout(dropout)
end

function SelfAttentionLayer:forward(x)
  local q = self.q_layer(x)
  local k = self.k_layer(x)
  local v = self.v_layer(x)
  local scores = matmul(q, k:transpose(-2, -1))
  scores = scores / math.sqrt(self.dim)
  local weights = softmax(scores, -1)
  weights = self.dropout_layer(weights)
  local outputs = matmul(weights, v)
  return outputs
end

local FeedForwardLayer = nn.Module("FeedForwardLayer")

function FeedForwardLayer:init(dim, dropout)
  dropout = dropout or 0.1
  self.dim = dim
  self.dropout = dropout
  self.fc1 = nn.Linear(dim, dim * 4)
  self.fc2 = nn.Linear(dim * 4, dim)
  self.dropout_layer = nn.Dropout(dropout)
end

function FeedForwardLayer:forward(x)
  local h = relu(self.fc1(x))
  h = self.dropout_layer(h)
  local y = self.fc2(h)
  return y
end

local FullyConnectedLayer = nn.Module("FullyConnectedLayer")

function FullyConnectedLayer:init(dim, num_layers, dropout)
  dropout = dropout or 0.1
  self.dim = dim
  self.num_layers = num_layers
  self.dropout = dropout
  self.self_attention_layers = nn.ModuleList({})
  self.feed_forward_layers = nn.ModuleList({})
  for i = 0, num_layers - 1 do
    self.self_attention_layers:append(SelfAttentionLayer(dim, dropout))
    self.feed_forward_layers:append(FeedForwardLayer(dim, dropout))
  end
end

function FullyConnectedLayer:forward(x)
  for i = 0, self.num_layers - 1 do
    x = x + self.self_attention_layers[i](x)
    x = x + self.feed_forward_layers[i](x)
  end
  return x
end

local B = define("B", 2)
local SEQ = define("SEQ", 16)
local DIM = define("DIM", 64)
local LAYERS = define("LAYERS", 2)

local model = FullyConnectedLayer(DIM, LAYERS, 0.1)
local x = input("x", {B, SEQ, DIM})
output("out", model(x))
