-- expect: lstm_proj_size.lua:2: error: nn.LSTM: proj_size is not supported
local lstm = nn.LSTM(8, 16, {num_layers = 2, bidirectional = true, proj_size = 4})
output("y", lstm(input("x", {3, 2, 8})))
