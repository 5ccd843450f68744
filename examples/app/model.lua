-- mirrors: CharTransformer of examples/app/train.py, a character-level causal transformer
-- (learned token + position embeddings, pre-norm blocks with causal multi-head attention and
-- a GELU MLP, final LayerNorm + Linear to the vocabulary). Same modules and state_dict names,
-- so the weights.safetensors that train.py writes loads as it is.
--
-- defines: VOCAB (vocabulary size), CONTEXT (window length), D_MODEL, HEADS, LAYERS, FFN
-- inputs:  ids [1, CONTEXT] int64 (character ids of the window)
-- outputs: logits [1, CONTEXT, VOCAB] (row t predicts the character after position t)

local CausalSelfAttention = nn.Module("CausalSelfAttention")

function CausalSelfAttention:init(d_model, heads, context)
  self.heads = heads
  self.qkv = nn.Linear(d_model, 3 * d_model)
  self.proj = nn.Linear(d_model, d_model)
  -- true above the diagonal: a position may not attend to later positions
  self:register_buffer("future", triu(ones({context, context}), 1):bool(), false)
end

function CausalSelfAttention:forward(x)
  local B, T, C = x:size()
  local qkv = self.qkv(x):split(C, 2)
  local hd = C // self.heads
  local q = qkv[1]:view(B, T, self.heads, hd):transpose(1, 2)
  local k = qkv[2]:view(B, T, self.heads, hd):transpose(1, 2)
  local v = qkv[3]:view(B, T, self.heads, hd):transpose(1, 2)
  local scores = matmul(q, k:transpose(-2, -1)) / math.sqrt(hd)
  scores = scores:masked_fill(self.future, -math.huge)
  local y = matmul(softmax(scores, -1), v)
  y = y:transpose(1, 2):contiguous():view(B, T, C)
  return self.proj(y)
end

local Block = nn.Module("Block")

function Block:init(d_model, heads, ffn, context)
  self.ln1 = nn.LayerNorm(d_model)
  self.attn = CausalSelfAttention(d_model, heads, context)
  self.ln2 = nn.LayerNorm(d_model)
  self.mlp = nn.Sequential(nn.Linear(d_model, ffn), nn.GELU(), nn.Linear(ffn, d_model))
end

function Block:forward(x)
  x = x + self.attn(self.ln1(x))
  x = x + self.mlp(self.ln2(x))
  return x
end

local CharTransformer = nn.Module("CharTransformer")

function CharTransformer:init(vocab, context, d_model, heads, layers, ffn)
  self.tok_emb = nn.Embedding(vocab, d_model)
  self.pos_emb = nn.Embedding(context, d_model)
  local blocks = {}
  for i = 1, layers do blocks[i] = Block(d_model, heads, ffn, context) end
  self.blocks = nn.ModuleList(blocks)
  self.ln_f = nn.LayerNorm(d_model)
  self.head = nn.Linear(d_model, vocab)
end

function CharTransformer:forward(ids)
  local T = ids:size(1)
  local x = self.tok_emb(ids) + self.pos_emb(arange(T))
  for _, block in self.blocks:items() do x = block(x) end
  local logits = self.head(self.ln_f(x))
  return logits
end

local VOCAB = define("VOCAB", 84)
local CONTEXT = define("CONTEXT", 64)
local model = CharTransformer(VOCAB, CONTEXT, define("D_MODEL", 64), define("HEADS", 4),
                              define("LAYERS", 4), define("FFN", 256))
output("logits", model(input("ids", {1, CONTEXT}, "int64")))
