-- nn.lua: PyTorch's built-in modules, written from the tensor primitives with
-- PyTorch's constructor arguments, defaults, semantics and parameter names, so a
-- state_dict saved from PyTorch loads unchanged.
local fail = nn._fail

local function opt(t, k, default)
  if type(t) ~= "table" or t[k] == nil then return default end
  return t[k]
end

local function check_positive(what, ...)
  for i, v in ipairs({ ... }) do
    if math.type(v) ~= "integer" or v <= 0 then
      fail(string.format("%s: argument %d must be a positive integer, got %s", what, i, tostring(v)))
    end
  end
end

-- ---- Linear ----
nn.Linear = nn.Module("Linear")
function nn.Linear:init(in_features, out_features, o)
  if type(o) == "boolean" then o = { bias = o } end -- nn.Linear(i, o, false), positional bias
  check_positive("nn.Linear", in_features, out_features)
  self.in_features, self.out_features = in_features, out_features
  self.weight = nn.Parameter({ out_features, in_features })
  if opt(o, "bias", true) then self.bias = nn.Parameter({ out_features }) end
end
function nn.Linear:forward(x)
  local y = matmul(x, self.weight:t())
  if self.bias then y = y + self.bias end
  return y
end

-- ---- normalisation, dropout, activations ----
nn.LayerNorm = nn.Module("LayerNorm")
function nn.LayerNorm:init(d, o)
  if type(d) == "table" then
    if #d ~= 1 then fail("nn.LayerNorm: only a normalized_shape of one dim is supported") end
    d = d[1]
  end
  check_positive("nn.LayerNorm", d)
  self.normalized_shape = d
  self.eps = opt(o, "eps", 1e-5)
  if opt(o, "elementwise_affine", true) then
    self.weight = nn.Parameter({ d })
    self.bias = nn.Parameter({ d })
  end
end
function nn.LayerNorm:forward(x)
  if x:size(-1) ~= self.normalized_shape then
    fail(string.format("LayerNorm: input's last dim is %d, expected %d", x:size(-1), self.normalized_shape))
  end
  local centered = x - x:mean(-1, true)
  local var = (centered * centered):mean(-1, true)
  local y = centered * rsqrt(var + self.eps)
  if self.weight then y = y * self.weight + self.bias end
  return y
end

nn.Dropout = nn.Module("Dropout")
function nn.Dropout:init(p) self.p = p or 0.5 end
function nn.Dropout:forward(x) return x end       -- inference: identity

local function activation(name, f)
  local cls = nn.Module(name)
  cls.forward = function(_, x) return f(x) end
  return cls
end
nn.ReLU = activation("ReLU", relu)
nn.Sigmoid = activation("Sigmoid", sigmoid)
nn.Tanh = activation("Tanh", tanh)
nn.Identity = activation("Identity", function(x) return x end)

nn.GELU = nn.Module("GELU")
function nn.GELU:init(o)
  self.approximate = type(o) == "table" and opt(o, "approximate", "none") or (o or "none")
end
function nn.GELU:forward(x)
  if self.approximate == "tanh" then
    return 0.5 * x * (1.0 + tanh(math.sqrt(2.0 / math.pi) * (x + 0.044715 * x * x * x)))
  end
  return gelu(x)
end

nn.Softmax = nn.Module("Softmax")
function nn.Softmax:init(dim) self.dim = dim end
function nn.Softmax:forward(x) return softmax(x, self.dim) end

-- ---- containers ----
local function container(name)
  local cls = nn.Module(name)
  local inst_mt = cls._inst_mt
  local class_index = inst_mt.__index
  inst_mt.__index = function(self, k)
    if math.type(k) == "integer" then
      local n = rawget(self, "_count")
      local i = k < 0 and k + n or k
      if i < 0 or i >= n then fail(string.format("%s index %d is out of range (length %d)", name, k, n)) end
      return rawget(self, tostring(i))
    end
    return class_index[k]
  end
  inst_mt.__len = function(self) return rawget(self, "_count") end
  function cls:append(m)
    local i = rawget(self, "_count")
    self[tostring(i)] = m
    rawset(self, "_count", i + 1)
    return self
  end
  function cls:items()                      -- for i, m in list:items() do  (i is 0-based)
    local i = -1
    return function()
      i = i + 1
      if i < rawget(self, "_count") then return i, rawget(self, tostring(i)) end
    end
  end
  return cls
end

nn.Sequential = container("Sequential")
function nn.Sequential:init(...)
  rawset(self, "_count", 0)
  for _, m in ipairs({ ... }) do self:append(m) end
end
function nn.Sequential:forward(x)
  for _, m in self:items() do x = m(x) end
  return x
end

nn.ModuleList = container("ModuleList")
function nn.ModuleList:init(list)
  rawset(self, "_count", 0)
  for _, m in ipairs(list or {}) do self:append(m) end
end

-- ---- Embedding ----
nn.Embedding = nn.Module("Embedding")
function nn.Embedding:init(num, dim)
  check_positive("nn.Embedding", num, dim)
  self.num_embeddings, self.embedding_dim = num, dim
  self.weight = nn.Parameter({ num, dim })
end
function nn.Embedding:forward(ids) return self.weight:take(ids) end

-- ---- LSTM (gate order i, f, g, o as in PyTorch) ----
nn.LSTM = nn.Module("LSTM")
function nn.LSTM:init(input_size, hidden_size, o)
  if type(o) ~= "table" then o = { num_layers = o } end
  check_positive("nn.LSTM", input_size, hidden_size)
  self.input_size, self.hidden_size = input_size, hidden_size
  self.num_layers = opt(o, "num_layers", 1)
  self.batch_first = opt(o, "batch_first", false)
  self.use_bias = opt(o, "bias", true)
  -- bidirectional: a second set of weights per layer (names ending in _reverse) runs over
  -- the sequence backwards; a layer's output is both directions' concatenated
  self.directions = opt(o, "bidirectional", false) and { "", "_reverse" } or { "" }
  -- proj_size: h = (o * tanh(c)) W_hr^T, the state's and the output's size (c keeps hidden)
  self.proj_size = opt(o, "proj_size", 0)
  if math.type(self.proj_size) ~= "integer" or self.proj_size < 0 or self.proj_size >= hidden_size then
    fail(string.format("nn.LSTM: proj_size must be an integer from 0 to hidden_size - 1 (%d), got %s",
                       hidden_size - 1, tostring(self.proj_size)))
  end
  local out_size = self.proj_size > 0 and self.proj_size or hidden_size
  for l = 0, self.num_layers - 1 do
    local inp = l == 0 and input_size or out_size * #self.directions
    for _, sfx in ipairs(self.directions) do
      self["weight_ih_l" .. l .. sfx] = nn.Parameter({ 4 * hidden_size, inp })
      self["weight_hh_l" .. l .. sfx] = nn.Parameter({ 4 * hidden_size, out_size })
      if self.use_bias then
        self["bias_ih_l" .. l .. sfx] = nn.Parameter({ 4 * hidden_size })
        self["bias_hh_l" .. l .. sfx] = nn.Parameter({ 4 * hidden_size })
      end
      if self.proj_size > 0 then
        self["weight_hr_l" .. l .. sfx] = nn.Parameter({ self.proj_size, hidden_size })
      end
    end
  end
end

-- one direction of one layer over x, its time along dim td ([B, T, in] when td is 1,
-- [T, B, in] when 0: the layout the module is given, so neither needs a transpose), with the
-- weights whose names end in sfx, from the last step to the first when sfx is "_reverse";
-- returns out in x's layout ([B, T, P] or [T, B, P]; step t's state at t), h [B, P], c [B, H]
-- (P: proj_size, else H)
function nn.LSTM:layer(l, sfx, x, h, c, td)
  local H = self.hidden_size
  local name = function(p) return p .. "_l" .. l .. sfx end
  local xw = matmul(x, self[name("weight_ih")]:t())       -- all timesteps in one product
  if self.use_bias then xw = xw + (self[name("bias_ih")] + self[name("bias_hh")]) end
  local w_hh_t = self[name("weight_hh")]:t()
  local outs, T = {}, x:size(td)
  for step = 0, T - 1 do
    local t = sfx == "_reverse" and T - 1 - step or step
    local gates = xw:select(td, t)
    if h then gates = gates + matmul(h, w_hh_t) end
    local i = sigmoid(gates:narrow(-1, 0, H))
    local f = sigmoid(gates:narrow(-1, H, H))
    local g = tanh(gates:narrow(-1, 2 * H, H))
    local o = sigmoid(gates:narrow(-1, 3 * H, H))
    c = c and (f * c + i * g) or (i * g)
    h = o * tanh(c)
    if self.proj_size > 0 then h = matmul(h, self[name("weight_hr")]:t()) end
    outs[t + 1] = h
  end
  return stack(outs, td), h, c
end

function nn.LSTM:forward(x, state)
  if x:dim() ~= 3 then fail("LSTM: expected a 3-D input, got " .. x:dim() .. " dims") end
  if x:size(-1) ~= self.input_size then
    fail(string.format("LSTM: input size is %d, expected %d", x:size(-1), self.input_size))
  end
  local td = self.batch_first and 1 or 0 -- the time dim
  local h0, c0 = state and state[1], state and state[2]
  local hs, cs = {}, {} -- h_n, c_n: [num_layers * directions, B, P or H], a layer's directions in turn
  for l = 0, self.num_layers - 1 do
    local outs = {}
    for _, sfx in ipairs(self.directions) do
      local k = #hs -- this direction's initial state in h0, c0
      local out, h, c = self:layer(l, sfx, x, h0 and h0:select(0, k), c0 and c0:select(0, k), td)
      outs[#outs + 1], hs[k + 1], cs[k + 1] = out, h, c
    end
    x = #outs == 1 and outs[1] or cat(outs, -1)
  end
  return x, { stack(hs, 0), stack(cs, 0) }
end

-- ---- MultiheadAttention, as torch.nn.MultiheadAttention ----
nn.MultiheadAttention = nn.Module("MultiheadAttention")
function nn.MultiheadAttention:init(embed_dim, num_heads, o)
  check_positive("nn.MultiheadAttention", embed_dim, num_heads)
  if embed_dim % num_heads ~= 0 then
    fail(string.format("nn.MultiheadAttention: embed_dim %d is not divisible by num_heads %d", embed_dim, num_heads))
  end
  self.embed_dim, self.num_heads = embed_dim, num_heads
  self.head_dim = embed_dim // num_heads
  self.batch_first = opt(o, "batch_first", false)
  self.kdim = opt(o, "kdim", embed_dim)
  self.vdim = opt(o, "vdim", embed_dim)
  local bias = opt(o, "bias", true)
  if opt(o, "add_bias_kv", false) or opt(o, "add_zero_attn", false) then
    fail("nn.MultiheadAttention: add_bias_kv and add_zero_attn are not supported")
  end
  self.same_dims = self.kdim == embed_dim and self.vdim == embed_dim
  if self.same_dims then
    self.in_proj_weight = nn.Parameter({ 3 * embed_dim, embed_dim })
  else
    self.q_proj_weight = nn.Parameter({ embed_dim, embed_dim })
    self.k_proj_weight = nn.Parameter({ embed_dim, self.kdim })
    self.v_proj_weight = nn.Parameter({ embed_dim, self.vdim })
  end
  if bias then self.in_proj_bias = nn.Parameter({ 3 * embed_dim }) end
  self.out_proj = nn.Linear(embed_dim, embed_dim, { bias = bias })
end

function nn.MultiheadAttention:project(x, i)
  local E = self.embed_dim
  local w
  if self.same_dims then w = self.in_proj_weight:narrow(0, i * E, E)
  else w = ({ self.q_proj_weight, self.k_proj_weight, self.v_proj_weight })[i + 1] end
  local y = matmul(x, w:t())
  if self.in_proj_bias then y = y + self.in_proj_bias:narrow(0, i * E, E) end
  return y
end

-- a mask as an additive float tensor: bool True (or nonzero int) means "not allowed"
local function additive(mask)
  if mask.dtype == "float32" then return mask end
  return where(mask, -math.huge, 0.0)
end

function nn.MultiheadAttention:forward(query, key, value, o)
  key, value = key or query, value or key or query
  if not self.batch_first then
    query, key, value = query:transpose(0, 1), key:transpose(0, 1), value:transpose(0, 1)
  end
  local B, L, E = query:size()
  local S = key:size(1)
  local H, hd = self.num_heads, self.head_dim
  if E ~= self.embed_dim then
    fail(string.format("MultiheadAttention: query's embedding dim is %d, expected %d", E, self.embed_dim))
  end
  local q = self:project(query, 0):reshape(B, L, H, hd):transpose(1, 2)   -- [B, H, L, hd]
  local k = self:project(key, 1):reshape(B, S, H, hd):transpose(1, 2)     -- [B, H, S, hd]
  local v = self:project(value, 2):reshape(B, S, H, hd):transpose(1, 2)
  local scores = matmul(q / math.sqrt(hd), k:transpose(-2, -1))           -- [B, H, L, S]
  local attn_mask = o and o.attn_mask
  if attn_mask then
    if attn_mask:dim() == 3 then attn_mask = attn_mask:reshape(B, H, L, S) end
    scores = scores + additive(attn_mask)
  end
  local kpm = o and o.key_padding_mask
  if kpm then scores = scores + additive(kpm):reshape(B, 1, 1, S) end
  local attn = softmax(scores, -1)
  local out = matmul(attn, v):transpose(1, 2):reshape(B, L, E)
  out = self.out_proj(out)
  if not self.batch_first then out = out:transpose(0, 1) end
  if o and o.need_weights == false then return out, nil end
  if o == nil or o.average_attn_weights ~= false then attn = attn:mean(1) end
  return out, attn
end

-- an unknown module is named in the error, as torch.X is
setmetatable(nn, { __index = function(_, k)
  fail("nn." .. tostring(k) .. " is not available in attncc")
end })
