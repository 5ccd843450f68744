-- Op-level compile-and-compare model (not an example): nn.LSTM as PyTorch's defaults have
-- it, batch_first = false (time-major [T, B, in]: each step's slice of the input projection
-- and its output rows contiguous), two layers from a given initial state, returning the
-- final state too, at a batch that --threads 2 splits into row groups; a one-layer LSTM
-- without biases, batch first, from a zero state; a bidirectional one, two layers (the
-- second reads both directions' outputs), batch first, from a given state; and two
-- bidirectional layers with projections (proj_size: h is 8 wide, c 20), time-major.
-- PyTorch twin: tests/e2e/op_models.py.
--
-- inputs:  x [9, 40, 24] (time-major), h0 [2, 40, 64], c0 [2, 40, 64], y [3, 6, 24],
--          z [4, 7, 24], hz [4, 4, 16], cz [4, 4, 16], w [5, 3, 24]
-- outputs: out [9, 40, 64], h_n [2, 40, 64], c_n [2, 40, 64], plain [3, 6, 20],
--          both [4, 7, 32], both_h [4, 4, 16], both_c [4, 4, 16], proj [5, 3, 16],
--          proj_h [4, 3, 8], proj_c [4, 3, 20]

local LstmOps = nn.Module("LstmOps")

function LstmOps:init()
  self.seq = nn.LSTM(24, 64, {num_layers = 2})
  self.plain = nn.LSTM(24, 20, {bias = false, batch_first = true})
  self.both = nn.LSTM(24, 16, {num_layers = 2, bidirectional = true, batch_first = true})
  self.proj = nn.LSTM(24, 20, {num_layers = 2, bidirectional = true, proj_size = 8})
end

function LstmOps:forward(x, h0, c0, y, z, hz, cz, w)
  local out, state = self.seq(x, {h0, c0})
  local plain = self.plain(y)
  local both, bstate = self.both(z, {hz, cz})
  local proj, pstate = self.proj(w)
  return out, state[1], state[2], plain, both, bstate[1], bstate[2], proj, pstate[1], pstate[2]
end

local m = LstmOps()
local out, h_n, c_n, plain, both, both_h, both_c, proj, proj_h, proj_c =
  m(input("x", {9, 40, 24}), input("h0", {2, 40, 64}), input("c0", {2, 40, 64}),
    input("y", {3, 6, 24}), input("z", {4, 7, 24}), input("hz", {4, 4, 16}), input("cz", {4, 4, 16}),
    input("w", {5, 3, 24}))
output("out", out)
output("h_n", h_n)
output("c_n", c_n)
output("plain", plain)
output("both", both)
output("both_h", both_h)
output("both_c", both_c)
output("proj", proj)
output("proj_h", proj_h)
output("proj_c", proj_c)
