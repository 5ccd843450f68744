-- Op-level compile-and-compare model (not an example): sum, mean and amax along every kind
-- of axis: the last (contiguous rows), the first and a middle one (strided: the columns
-- accumulate row after row, in chunks of up to 64, the last chunk partial for 70 columns),
-- several dims at once, and a bool sum (int); and over u, big enough (>= 16384 values) that
-- --threads 2 splits the outer index between the threads (132 rows; 4 outer indices of a
-- strided max). PyTorch twin: tests/e2e/op_models.py.
--
-- inputs:  x [3, 5, 7], z [2, 9, 70], u [4, 33, 130]
-- outputs: the reductions below, in order

local x = input("x", {3, 5, 7})
local z = input("z", {2, 9, 70})
local u = input("u", {4, 33, 130})
output("sum_last", x:sum(-1))
output("sum_first", x:sum(0))
output("sum_mid_keep", x:sum(1, true))
output("mean_mid", x:mean(1))
output("amax_first", x:amax(0))
output("sum_wide", z:sum(1))
output("amax_wide", z:amax(1))
output("mean_wide_first", z:mean(0))
output("sum_dims", x:sum({0, 2}))
output("count_mid", x:gt(0):sum(1))
output("sum_split", u:sum(-1))
output("amax_split", u:amax(1))
