-- Op-level compile-and-compare model (not an example): kernels that --threads 2 runs as one
-- row group (compiler/row_groups.c), each thread its rows of dim 0 through all of them with
-- no barrier between: 5 rows, so 3 and 2. A product by a weight; a fused loop reading two
-- views of it (its halves along the last dim); an elementwise loop of the input; a product
-- written over that dying residual; a product whose residual is also read by its ReLU (not
-- in place); a narrow of it along dim 0 ends the group (a row read by every row), and the
-- product after it reads that row as a whole. The second output reads a view of a member.
-- PyTorch twin: tests/e2e/op_models.py.
--
-- inputs:  x [5, 300, 40]
-- outputs: w, s

local RowGroups = nn.Module("RowGroups")

function RowGroups:init()
  self.a = nn.Linear(40, 64)
  self.b = nn.Linear(32, 40)
  self.c = nn.Linear(40, 40)
end

function RowGroups:forward(x)
  local h = self.a(x)
  local g = sigmoid(h:narrow(2, 0, 32)) * tanh(h:narrow(2, 32, 32))
  local r = tanh(x) * 0.5
  local y = self.b(g) + r
  local z = self.c(relu(y)) + y
  local first = z:narrow(0, 0, 1)
  local w = z * first
  return tanh(w), y:narrow(2, 8, 16) * 2
end

local w, s = RowGroups()(input("x", {5, 300, 40}))
output("w", w)
output("s", s)
