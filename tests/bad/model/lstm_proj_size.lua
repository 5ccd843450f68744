-- expect: lstm_proj_size.lua:2: error: nn.LSTM: proj_size must be an integer from 0 to hidden_size - 1 (15), got 16
local lstm = nn.LSTM(8, 16, {num_layers = 2, bidirectional = true, proj_size = 16})
output("y", lstm(input("x", {3, 2, 8})))
