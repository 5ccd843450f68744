local x = input("x", {1 << 30, 1 << 30, 1 << 30})
output("y", x)
