-- mirrors: Attention_LSTM_Model(config) with its SelfAttention(hidden_dim) pooling, from seed 002
-- ("pytorch——在lstm模型中加入自注意力机制"); PyTorch twin in tests/e2e/models.py.
-- Seed typos fixed as in the twin: forward feeds x to the LSTM, the undefined `Attention`
-- member is dropped, and forward returns (logits, attention weights).
--
-- defines: B (batch), SEQ (sequence length), EMBED (config.embed, LSTM input size),
--          HIDDEN (config.hidden_size), LAYERS (config.num_layers), CLASSES (config.num_classes)
-- inputs:  x [B, SEQ, EMBED]
-- outputs: logits [B, CLASSES], weights [B, SEQ] (softmax over the sequence)

local SelfAttention = nn.Module("SelfAttention")

function SelfAttention:init(hidden_dim)
  self.projection = nn.Sequential(
    nn.Linear(hidden_dim, 64),   -- hidden_dim: the LSTM's hidden size
    nn.ReLU(),                   -- PyTorch: nn.ReLU(True) (in place; no effect here)
    nn.Linear(64, 1)
  )
end

function SelfAttention:forward(encoder_outputs)
  -- encoder_outputs: (batch_size, sequence_length, hidden_dim)
  local energy = self.projection(encoder_outputs)           -- (batch_size, sequence_length, 1)
  local weights = softmax(energy:squeeze(-1), 1)            -- (batch_size, sequence_length)
  local outputs = (encoder_outputs * weights:unsqueeze(-1)):sum(1)  -- (batch_size, hidden_dim)
  return outputs, weights
end

local Attention_LSTM_Model = nn.Module("Attention_LSTM_Model")

function Attention_LSTM_Model:init(config)
  self.lstm = nn.LSTM(config.embed, config.hidden_size,
                      {num_layers = config.num_layers, batch_first = true, dropout = config.dropout})
  self.self_attention = SelfAttention(config.hidden_size)
  self.fc = nn.Linear(config.hidden_size, config.num_classes)
end

function Attention_LSTM_Model:forward(x)
  local lstm_out, hc = self.lstm(x)     -- hc = {h_n, c_n}
  local self_att_out, self_weights = self.self_attention(lstm_out)
  local output = self.fc(self_att_out)
  return output, self_weights
end

local B = define("B", 2)
local SEQ = define("SEQ", 16)
local EMBED = define("EMBED", 32)
local HIDDEN = define("HIDDEN", 64)
local LAYERS = define("LAYERS", 2)
local CLASSES = define("CLASSES", 5)

local config = {embed = EMBED, hidden_size = HIDDEN, num_layers = LAYERS,
                num_classes = CLASSES, dropout = 0.1}
local model = Attention_LSTM_Model(config)
local x = input("x", {B, SEQ, EMBED})
local logits, weights = model(x)
output("logits", logits)
output("weights", weights)
