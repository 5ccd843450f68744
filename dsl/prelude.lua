-- prelude.lua: the tensor API a model file sees, built on the C primitives in _C.
-- Tensor methods and operators mirror PyTorch (0-based dims, negative dims from the
-- end, broadcasting); nn.Module gives modules PyTorch's state_dict naming.
local C = _C
_C = nil
local mt = C.tensor_mt
local is_tensor = C.is_tensor

local Tensor = {}             -- methods
local fail = C.error

-- ---- helpers ----
local function dims_of(t) return C.shape(t) end

local function norm_dim(d, n, what)
  if math.type(d) ~= "integer" then fail(what .. ": dim must be an integer, got " .. tostring(d)) end
  local r = d < 0 and d + n or d
  if r < 0 or r >= n then
    fail(string.format("%s: dim %d is out of range for %d dims (expected %d..%d)", what, d, n, -n, n - 1))
  end
  return r
end

-- shape arguments: either varargs of integers or one table
local function shape_args(what, ...)
  local first = ...
  if type(first) == "table" and not is_tensor(first) then
    if getmetatable(first) and getmetatable(first).__shape then return first:totable() end
    return first
  end
  local s = table.pack(...)
  s.n = nil
  for i, v in ipairs(s) do
    if math.type(v) ~= "integer" then fail(what .. ": size " .. (i - 1) .. " must be an integer, got " .. tostring(v)) end
  end
  return s
end

-- 0-based, negative-aware view of a shape: x.shape[0], #x.shape, x.shape:totable()
local ShapeMT = { __shape = true }
ShapeMT.__index = function(s, k)
  if math.type(k) == "integer" then
    local n = #s.dims
    local i = k < 0 and k + n or k
    if i < 0 or i >= n then fail("shape index " .. k .. " is out of range for " .. n .. " dims") end
    return s.dims[i + 1]
  end
  if k == "totable" then return function(self) return table.move(self.dims, 1, #self.dims, 1, {}) end end
  if k == "unpack" then return function(self) return table.unpack(self.dims) end end
  return nil
end
ShapeMT.__len = function(s) return #s.dims end
ShapeMT.__tostring = function(s) return "[" .. table.concat(s.dims, ",") .. "]" end
ShapeMT.__eq = function(a, b)
  if #a.dims ~= #b.dims then return false end
  for i = 1, #a.dims do if a.dims[i] ~= b.dims[i] then return false end end
  return true
end

-- ---- tensor fields and operators ----
mt.__index = function(t, k)
  local m = Tensor[k]
  if m then return m end
  if k == "shape" then return setmetatable({ dims = dims_of(t) }, ShapeMT) end
  if k == "ndim" then return #dims_of(t) end
  if k == "dtype" then return C.dtype(t) end
  if k == "T" then return t:permute_reverse() end
  if math.type(k) == "integer" then return t:select(0, k) end
  fail("tensor has no field or method '" .. tostring(k) .. "'")
end
mt.__name = "Tensor"
mt.__tostring = function(t) return "Tensor(" .. C.dtype(t) .. "[" .. table.concat(dims_of(t), ",") .. "])" end
mt.__add = function(a, b) return C.binary("add", a, b) end
mt.__sub = function(a, b) return C.binary("sub", a, b) end
mt.__mul = function(a, b) return C.binary("mul", a, b) end
mt.__div = function(a, b) return C.binary("div", a, b) end
mt.__pow = function(a, b) return C.binary("pow", a, b) end
mt.__unm = function(a) return C.unary("neg", a) end
mt.__len = function(t) return dims_of(t)[1] end
mt.__eq = function() fail("use a:eq(b) to compare tensors elementwise") end
mt.__lt = function() fail("use a:lt(b) to compare tensors elementwise") end
mt.__le = function() fail("use a:le(b) to compare tensors elementwise") end

-- ---- elementwise ----
for _, op in ipairs({ "add", "sub", "mul", "div", "pow", "maximum", "minimum",
                      "eq", "ne", "lt", "le", "gt", "ge", "logical_and", "logical_or" }) do
  Tensor[op] = function(a, b) return C.binary(op, a, b) end
end
for _, op in ipairs({ "neg", "exp", "log", "sqrt", "rsqrt", "tanh", "sigmoid", "relu", "gelu",
                      "erf", "abs", "logical_not" }) do
  Tensor[op] = function(a) return C.unary(op, a) end
end
Tensor.div_ = nil
function Tensor.square(a) return C.binary("mul", a, a) end
function Tensor.masked_fill(a, mask, value)
  if not is_tensor(mask) then fail("masked_fill: mask must be a tensor") end
  if C.dtype(mask) ~= "bool" then mask = C.binary("ne", mask, 0) end
  local r = C.where(mask, value, a)
  if C.dtype(r) ~= C.dtype(a) then r = C.unary("cast", r, C.dtype(a)) end
  local rs, as = dims_of(r), dims_of(a)
  if #rs ~= #as then fail("masked_fill: mask shape does not broadcast to the tensor's shape") end
  for i = 1, #rs do
    if rs[i] ~= as[i] then fail("masked_fill: mask shape does not broadcast to the tensor's shape") end
  end
  return r
end
function Tensor.to(a, dtype)
  if C.dtype(a) == dtype or (dtype == "int64" and C.dtype(a) == "int32") then return a end
  return C.unary("cast", a, dtype)
end
function Tensor.float(a) return Tensor.to(a, "float32") end
function Tensor.int(a) return Tensor.to(a, "int32") end
function Tensor.long(a) return Tensor.to(a, "int64") end
function Tensor.bool(a) return Tensor.to(a, "bool") end
function Tensor.type_as(a, b) return Tensor.to(a, C.dtype(b)) end
function Tensor.clone(a) return a end
function Tensor.contiguous(a) return a end
function Tensor.detach(a) return a end

-- ---- shape queries ----
function Tensor.size(t, d)
  local s = dims_of(t)
  if d == nil then return table.unpack(s) end
  return s[norm_dim(d, #s, "size") + 1]
end
function Tensor.dim(t) return #dims_of(t) end
function Tensor.numel(t)
  local n = 1
  for _, d in ipairs(dims_of(t)) do n = n * d end
  return n
end

-- ---- movement ----
function Tensor.reshape(t, ...) return C.reshape(t, shape_args("reshape", ...)) end
Tensor.view = Tensor.reshape
function Tensor.view_as(t, o) return C.reshape(t, dims_of(o)) end
function Tensor.reshape_as(t, o) return C.reshape(t, dims_of(o)) end

function Tensor.permute(t, ...) return C.permute(t, shape_args("permute", ...)) end
function Tensor.transpose(t, d0, d1)
  local n = #dims_of(t)
  d0, d1 = norm_dim(d0, n, "transpose"), norm_dim(d1, n, "transpose")
  if d0 == d1 then return t end
  local p = {}
  for i = 0, n - 1 do p[i + 1] = i end
  p[d0 + 1], p[d1 + 1] = d1, d0
  return C.permute(t, p)
end
function Tensor.permute_reverse(t)
  local n = #dims_of(t)
  local p = {}
  for i = 0, n - 1 do p[i + 1] = n - 1 - i end
  return C.permute(t, p)
end
function Tensor.t(t) return t:transpose(0, 1) end

function Tensor.unsqueeze(t, d)
  local s = dims_of(t)
  d = norm_dim(d, #s + 1, "unsqueeze")
  table.insert(s, d + 1, 1)
  return C.reshape(t, s)
end
function Tensor.squeeze(t, d)
  local s = dims_of(t)
  local r = {}
  if d == nil then
    for _, v in ipairs(s) do if v ~= 1 then r[#r + 1] = v end end
  else
    d = norm_dim(d, #s, "squeeze")
    for i, v in ipairs(s) do if i ~= d + 1 or v ~= 1 then r[#r + 1] = v end end
  end
  return C.reshape(t, r)
end
function Tensor.flatten(t, s0, s1)
  local s = dims_of(t)
  if #s == 0 then return C.reshape(t, { 1 }) end
  s0 = norm_dim(s0 or 0, #s, "flatten")
  s1 = norm_dim(s1 or -1, #s, "flatten")
  local r, prod = {}, 1
  for i = 1, #s do
    if i - 1 < s0 or i - 1 > s1 then r[#r + 1] = s[i]
    else
      prod = prod * s[i]
      if i - 1 == s1 then r[#r + 1] = prod end
    end
  end
  return C.reshape(t, r)
end
function Tensor.expand(t, ...)
  local want = shape_args("expand", ...)
  local s = dims_of(t)
  local r = {}
  for i = 1, #want do
    local src = s[#s - #want + i]
    r[i] = (want[i] == -1) and (src or fail("expand: -1 is not allowed for a new dim")) or want[i]
  end
  return C.unary("expand", t, r)
end
function Tensor.expand_as(t, o) return C.unary("expand", t, dims_of(o)) end
function Tensor.repeat_interleave(t, n, d)
  if d == nil then t = t:flatten(); d = 0 end
  local s = dims_of(t)
  d = norm_dim(d, #s, "repeat_interleave")
  -- [.., s_d, ..] -> [.., s_d, 1, ..] -> expand [.., s_d, n, ..] -> [.., s_d*n, ..]
  local u = t:unsqueeze(d + 1)
  local e = dims_of(u)
  e[d + 2] = n
  local r = dims_of(t)
  r[d + 1] = r[d + 1] * n
  return C.reshape(C.unary("expand", u, e), r)
end
function Tensor.narrow(t, d, start, len) return C.narrow(t, d, start, len) end
function Tensor.select(t, d, i)
  local s = dims_of(t)
  local dd = norm_dim(d, #s, "select")
  if math.type(i) ~= "integer" then fail("select: index must be an integer") end
  if i < -s[dd + 1] or i >= s[dd + 1] then
    fail(string.format("select: index %d is out of range for dim %d of size %d", i, d, s[dd + 1]))
  end
  if i < 0 then i = i + s[dd + 1] end
  return C.narrow(t, dd, i, 1):squeeze(dd)
end
function Tensor.split(t, size, d)
  d = d or 0
  local n = Tensor.size(t, d)
  local out = {}
  if type(size) == "table" then
    local at = 0
    for _, len in ipairs(size) do out[#out + 1] = C.narrow(t, d, at, len); at = at + len end
    if at ~= n then fail(string.format("split: sizes add up to %d, dim has %d", at, n)) end
    return out
  end
  if math.type(size) ~= "integer" or size <= 0 then
    fail("split: split_size must be a positive integer, got " .. tostring(size))
  end
  local at = 0
  while at < n do
    local len = math.min(size, n - at)
    out[#out + 1] = C.narrow(t, d, at, len)
    at = at + len
  end
  return out
end
function Tensor.chunk(t, n, d)
  d = d or 0
  local size = (Tensor.size(t, d) + n - 1) // n
  return Tensor.split(t, size, d)
end
function Tensor.unbind(t, d)
  d = d or 0
  local out = {}
  for i = 0, Tensor.size(t, d) - 1 do out[#out + 1] = Tensor.select(t, d, i) end
  return out
end
function Tensor.take(t, index) return C.gather(t, index) end
Tensor.gather_rows = Tensor.take
function Tensor.index_select(t, d, index)
  if d ~= 0 then return t:transpose(0, d):index_select(0, index):transpose(0, d) end
  if #dims_of(index) ~= 1 then fail("index_select: index must be 1-D") end
  return C.gather(t, index)
end

-- ---- math ----
local function promote_1d(a, b)
  -- torch.matmul's rules for 1-D operands
  local sa, sb = dims_of(a), dims_of(b)
  local squeeze_a, squeeze_b = false, false
  if #sa == 1 then a = a:unsqueeze(0); squeeze_a = true end
  if #sb == 1 then b = b:unsqueeze(1); squeeze_b = true end
  return a, b, squeeze_a, squeeze_b
end
function Tensor.matmul(a, b)
  if not is_tensor(b) then fail("matmul: expected a tensor, got " .. type(b)) end
  local a2, b2, sqa, sqb = promote_1d(a, b)
  local r = C.matmul(a2, b2, false)
  if sqa then r = r:squeeze(-2) end
  if sqb then r = r:squeeze(-1) end
  return r
end
Tensor.mm = Tensor.matmul
Tensor.bmm = Tensor.matmul
function Tensor.softmax(t, d)
  if d == nil then fail("softmax: dim is required") end
  return C.softmax(t, d, false)
end
function Tensor.log_softmax(t, d) return C.softmax(t, d, true) end

local function reduce(op)
  return function(t, d, keepdim)
    if type(d) == "table" then
      table.sort(d, function(x, y) return x > y end)
      local r = t
      for _, dd in ipairs(d) do r = C.reduce(op, r, dd, keepdim) end
      return r
    end
    if d == nil then return C.reduce(op, t:flatten(), 0, false) end
    return C.reduce(op, t, d, keepdim)
  end
end
Tensor.sum = reduce("sum")
Tensor.mean = reduce("mean")
Tensor.amax = reduce("amax")
Tensor.max = function(t, d, keepdim)
  if is_tensor(d) then return C.binary("maximum", t, d) end
  return reduce("amax")(t, d, keepdim)
end
Tensor.min = function(t, d, keepdim)
  if is_tensor(d) then return C.binary("minimum", t, d) end
  return -reduce("amax")(-t, d, keepdim)
end
function Tensor.var(t, d, unbiased, keepdim)
  if d == nil then t, d = t:flatten(), 0 end
  local m = t:mean(d, true)
  local v = ((t - m) * (t - m)):sum(d, keepdim)
  local n = Tensor.size(t, d)
  if unbiased == nil or unbiased then n = n - 1 end
  return v / n
end

-- ---- einsum: one or two operands, explicit output ----
local function letters(s)
  local r = {}
  for c in s:gmatch(".") do r[#r + 1] = c end
  return r
end
local function index_of(list, c)
  for i, v in ipairs(list) do if v == c then return i end end
  return nil
end

local function einsum(eq, ...)
  local ops = { ... }
  if #ops == 1 and type(ops[1]) == "table" and not is_tensor(ops[1]) then ops = ops[1] end
  eq = eq:gsub("%s", "")
  local lhs, out = eq:match("^(.-)%->(.*)$")
  if not lhs then fail("einsum: '" .. eq .. "' needs an explicit '->' output") end
  if eq:find("%.%.%.") then fail("einsum: '...' is not supported") end
  local ins = {}
  for part in lhs:gmatch("[^,]+") do ins[#ins + 1] = letters(part) end
  if #ins ~= #ops then fail(string.format("einsum: '%s' names %d operands, %d given", eq, #ins, #ops)) end
  local o = letters(out)
  for k, term in ipairs(ins) do
    local seen = {}
    for _, ch in ipairs(term) do
      if seen[ch] then fail(string.format("einsum: index '%s' repeats in operand %d (diagonals are not supported)", ch, k - 1)) end
      seen[ch] = true
    end
  end
  local size = {}
  for k, term in ipairs(ins) do
    local s = dims_of(ops[k])
    if #s ~= #term then
      fail(string.format("einsum: operand %d has %d dims, '%s' expects %d", k - 1, #s, table.concat(term), #term))
    end
    for i, c in ipairs(term) do
      if size[c] and size[c] ~= s[i] and size[c] ~= 1 and s[i] ~= 1 then
        fail(string.format("einsum: size of '%s' differs between operands (%d vs %d)", c, size[c], s[i]))
      end
      if not size[c] or size[c] == 1 then size[c] = s[i] end
    end
  end
  for _, c in ipairs(o) do
    if not size[c] then fail("einsum: output letter '" .. c .. "' is in no operand") end
  end
  if #ops == 1 then
    -- sum away letters not in the output, then permute
    local t, term = ops[1], ins[1]
    for i = #term, 1, -1 do
      if not index_of(o, term[i]) then t = t:sum(i - 1); table.remove(term, i) end
    end
    local p = {}
    for i, c in ipairs(o) do p[i] = index_of(term, c) - 1 end
    return C.permute(t, p)
  end
  if #ops ~= 2 then fail("einsum: only one or two operands are supported") end
  local A, B = ins[1], ins[2]
  local batch, m, n, k = {}, {}, {}, {}
  for _, c in ipairs(A) do
    if index_of(B, c) then
      if index_of(o, c) then batch[#batch + 1] = c else k[#k + 1] = c end
    elseif index_of(o, c) then m[#m + 1] = c
    else fail("einsum: letter '" .. c .. "' appears only once and not in the output (sum it first)") end
  end
  for _, c in ipairs(B) do
    if not index_of(A, c) then
      if index_of(o, c) then n[#n + 1] = c
      else fail("einsum: letter '" .. c .. "' appears only once and not in the output (sum it first)") end
    end
  end
  local function arrange(t, term, groups)
    local perm, shape = {}, {}
    for _, g in ipairs(groups) do
      local prod = 1
      for _, c in ipairs(g) do perm[#perm + 1] = index_of(term, c) - 1; prod = prod * size[c] end
      shape[#shape + 1] = prod
    end
    local st = dims_of(t)
    local expanded = {}
    for i, c in ipairs(term) do expanded[i] = size[c] end
    local same = true
    for i = 1, #st do if st[i] ~= expanded[i] then same = false end end
    if not same then t = C.unary("expand", t, expanded) end
    return C.reshape(C.permute(t, perm), shape)
  end
  local a2 = arrange(ops[1], A, { batch, m, k })
  local b2 = arrange(ops[2], B, { batch, k, n })
  local r = C.matmul(a2, b2, false)          -- [prod(batch), prod(m), prod(n)]
  local full, term = {}, {}
  for _, g in ipairs({ batch, m, n }) do
    for _, c in ipairs(g) do full[#full + 1] = size[c]; term[#term + 1] = c end
  end
  r = C.reshape(r, full)
  local p = {}
  for i, c in ipairs(o) do p[i] = index_of(term, c) - 1 end
  return C.permute(r, p)
end

-- ---- globals ----
local G = _ENV
for name, f in pairs(Tensor) do
  if G[name] == nil and name ~= "size" and name ~= "select" then G[name] = f end
end
G.Tensor = Tensor
G.einsum = einsum
G.matmul = Tensor.matmul
G.softmax = Tensor.softmax
G.log_softmax = Tensor.log_softmax
G.where = function(c, a, b)
  if C.dtype(c) ~= "bool" then c = C.binary("ne", c, 0) end
  return C.where(c, a, b)
end
G.cat = function(list, d) return C.cat(list, d or 0) end
G.concat = G.cat
G.stack = function(list, d)
  d = d or 0
  local us = {}
  for i, t in ipairs(list) do
    local n = #dims_of(t)
    us[i] = t:unsqueeze(d < 0 and d + n + 1 or d)
  end
  return C.cat(us, d)
end
G.is_tensor = is_tensor
G.input = function(name, shape, dtype) return C.input(name, shape, dtype) end
G.output = function(name, t)
  if not is_tensor(t) then fail("output '" .. tostring(name) .. "': expected a tensor, got " .. type(t)) end
  C.output(name, t)
end
G.define = function(name, default)
  local v = C.define(name)
  if v == nil then return default end
  return v
end
G.D = setmetatable({}, { __index = function(_, k) return C.define(k) end })

-- constants
local function flatten_values(v, shape, depth, out)
  if type(v) == "table" and not is_tensor(v) then
    shape[depth] = shape[depth] or #v
    if shape[depth] ~= #v then fail("tensor: ragged nested table") end
    for _, x in ipairs(v) do flatten_values(x, shape, depth + 1, out) end
  else
    out[#out + 1] = v
  end
end
G.tensor = function(values, dtype)
  local shape, flat = {}, {}
  if type(values) == "number" or type(values) == "boolean" then
    if dtype == nil then dtype = math.type(values) == "integer" and "int64" or "float32" end
    return C.const({ values }, {}, dtype)
  end
  flatten_values(values, shape, 1, flat)
  if dtype == nil then
    local all_bool = #flat > 0
    dtype = "int64"
    for _, x in ipairs(flat) do
      if type(x) ~= "boolean" then all_bool = false end
      if math.type(x) ~= "integer" then dtype = "float32" end
    end
    if all_bool then dtype = "bool" end
  end
  return C.const(flat, shape, dtype)
end
G.arange = function(a, b, step)
  if b == nil then a, b = 0, a end
  step = step or 1
  local flat = {}
  local isint = math.type(a) == "integer" and math.type(b) == "integer" and math.type(step) == "integer"
  local x = a
  while (step > 0 and x < b) or (step < 0 and x > b) do flat[#flat + 1] = x; x = x + step end
  if #flat == 0 then fail("arange: empty range") end
  return C.const(flat, { #flat }, isint and "int64" or "float32")
end
G.full = function(shape, value, dtype)
  local n = 1
  for _, d in ipairs(shape) do n = n * d end
  if n > 1 << 24 then fail("full: constant of " .. n .. " elements is too large") end
  local flat = {}
  for i = 1, n do flat[i] = value end
  dtype = dtype or (math.type(value) == "integer" and "int64" or "float32")
  if type(value) == "boolean" then dtype = "bool" end
  return C.const(flat, shape, dtype)
end
G.zeros = function(shape, dtype) return G.full(shape, 0.0, dtype or "float32") end
G.ones = function(shape, dtype) return G.full(shape, 1.0, dtype or "float32") end
G.tril = function(t, k)
  -- lower triangle of a 2-D tensor (as a computed mask)
  local s = dims_of(t)
  local r = arange(s[#s - 1]):unsqueeze(1)
  local c = arange(s[#s]):unsqueeze(0)
  return where(c:le(r + (k or 0)), t, 0)
end
G.triu = function(t, k)
  local s = dims_of(t)
  local r = arange(s[#s - 1]):unsqueeze(1)
  local c = arange(s[#s]):unsqueeze(0)
  return where(c:ge(r + (k or 0)), t, 0)
end

-- ---- modules ----
local Module = {}                     -- methods every module has
local classes = {}
local all_params = {}                 -- {tensor, module, local name}
local all_modules = {}
local registered = setmetatable({}, { __mode = "k" }) -- tensor -> true once owned

local function module_path(m)
  local parts = {}
  while m and rawget(m, "_parent") do
    table.insert(parts, 1, rawget(m, "_name"))
    m = rawget(m, "_parent")
  end
  return table.concat(parts, ".")
end

local function is_module(v) return type(v) == "table" and rawget(v, "_modules") ~= nil end
local function is_param(v) return is_tensor(v) and registered[v] == "param" end

-- a module, parameter or buffer name becomes part of a state_dict name and of C names
local function check_attr_name(k)
  if not tostring(k):match("^[%w_]+$") then
    fail("'" .. tostring(k) .. "' is not a valid module attribute name (letters, digits and '_')")
  end
end

local function setattr(self, k, v)
  if is_module(v) or (is_tensor(v) and registered[v] == "new_param") then check_attr_name(k) end
  if is_module(v) then
    if rawget(v, "_parent") and (rawget(v, "_parent") ~= self or rawget(v, "_name") ~= tostring(k)) then
      fail("module assigned to '" .. tostring(k) .. "' already belongs to '" .. module_path(v) .. "'")
    end
    rawset(v, "_parent", self)
    rawset(v, "_name", tostring(k))
    local mods = rawget(self, "_modules")
    mods[#mods + 1] = tostring(k)
  elseif is_tensor(v) and registered[v] == "new_param" then
    registered[v] = "param"
    all_params[#all_params + 1] = { v, self, tostring(k) }
  end
  rawset(self, k, v)
end

local function call_module(self, ...)
  local path = module_path(self)
  local prev = C.set_path(path)
  local r = table.pack(self:forward(...))
  C.set_path(prev)
  return table.unpack(r, 1, r.n)
end

function Module:register_buffer(name, t, persistent)
  if not is_tensor(t) then fail("register_buffer: expected a tensor") end
  check_attr_name(name)
  rawset(self, name, t)
  -- named at the end, once the module is attached where it belongs
  local bufs = rawget(self, "_buffers")
  bufs[#bufs + 1] = name
end
function Module:register_parameter(name, p) setattr(self, name, p) end
function Module:add_module(name, m) setattr(self, name, m) end
function Module:children()
  local list = {}
  for _, k in ipairs(rawget(self, "_modules")) do list[#list + 1] = rawget(self, k) end
  return list
end
function Module:named_parameters()
  local r = {}
  for _, p in ipairs(all_params) do
    local owner = p[2]
    local m = owner
    while m and m ~= self do m = rawget(m, "_parent") end
    if m then r[#r + 1] = { C.param_name(p[1]) or p[3], p[1] } end
  end
  return r
end
function Module:eval() return self end
function Module:train() return self end
function Module:forward()
  fail("module " .. rawget(getmetatable(self), "__name") .. " has no forward()")
end

local function new_class(name, base)
  if type(name) ~= "string" then fail("nn.Module: expected a class name string") end
  local cls = {}
  local inst_mt = { __index = cls, __call = call_module, __newindex = setattr, __name = name }
  cls.__name = name
  cls._inst_mt = inst_mt
  inst_mt.__tostring = function(self) return name .. "(" .. module_path(self) .. ")" end
  setmetatable(cls, {
    __index = base or Module,
    __call = function(c, ...)
      local self = setmetatable({ _modules = {}, _buffers = {} }, inst_mt)
      all_modules[#all_modules + 1] = self
      if c.init then c.init(self, ...) end
      return self
    end,
  })
  classes[#classes + 1] = cls
  return cls
end

local nn = {}
nn.Module = function(name, base) return new_class(name, base) end
nn.Parameter = function(shape_or_tensor, ...)
  local t
  if is_tensor(shape_or_tensor) then
    t = C.param(dims_of(shape_or_tensor))
  else
    t = C.param(shape_args("Parameter", shape_or_tensor, ...))
  end
  registered[t] = "new_param"
  return t
end
nn._is_module = is_module
nn._module_path = module_path
nn._fail = fail
G.nn = nn
G.torch = setmetatable({}, { __index = function(_, k)
  local v = G[k]
  if v == nil then fail("torch." .. tostring(k) .. " is not available in attncc") end
  return v
end })

-- after model.lua: give every parameter its state_dict name
G._attncc_finish = function()
  local seen = {}
  for _, p in ipairs(all_params) do
    local path = module_path(p[2])
    local name = path == "" and p[3] or (path .. "." .. p[3])
    if seen[name] then
      fail("two parameters are both named '" .. name .. "' (two top-level modules?)")
    end
    seen[name] = true
    C.set_param_name(p[1], name)
  end
  for _, m in ipairs(all_modules) do
    local path = module_path(m)
    for _, b in ipairs(rawget(m, "_buffers")) do
      C.register_buffer_name(path == "" and b or (path .. "." .. b))
    end
  end
end
