"""targets.py: the performance issue's targets, checked against one benchmark run.

run_bench.py prints this after its tables: each target whose cases ran, the figure the
run measured, and whether it held or by how much it was missed. It is a report, not a
test: nothing fails on a missed target (timings on a shared machine are not pass/fail).

The targets (1 thread unless said; %peak is the table's peak_pct, against the FMA peak
measured next to the case):
  - the GEMM cases: >= 90 % of peak;
  - the d=256 block: >= 1.25x PyTorch at 128 tokens, >= 1.5x at 512 and 1024, and
    >= 75 % of peak at 512 and 1024; the d=768 block at 512 tokens: >= 1.3x;
  - LSTM + attention pooling at batch 1: >= 3x;
  - every case faster than PyTorch;
  - 2 threads on the d=768 block at 512 tokens: >= 1.8x the 1-thread speed.
"""

# (case, figure, at least): figure "speedup" (torch_ms / attncc_ms) or "peak_pct"
PER_CASE = [
    ("gemm_m128_k256_n768", "peak_pct", 90.0),
    ("gemm_m512_k768_n3072", "peak_pct", 90.0),
    ("gemm_m128_k64_n128", "peak_pct", 90.0),
    ("block_d256_h8_s128", "speedup", 1.25),
    ("block_d256_h8_s512", "speedup", 1.5),
    ("block_d256_h8_s512", "peak_pct", 75.0),
    ("block_d256_h8_s1024", "speedup", 1.5),
    ("block_d256_h8_s1024", "peak_pct", 75.0),
    ("block_d768_h12_s512", "speedup", 1.3),
    ("lstm_b1_s11", "speedup", 3.0),
    ("lstm_b1_s128", "speedup", 3.0),
]
SCALING_CASE, SCALING_THREADS, SCALING_AT_LEAST = "block_d768_h12_s512", 2, 1.8


def _line(what, value, unit, at_least):
    if value is None:
        return "  %-50s %12s   no figure" % (what, "-")
    shown = ("%.2fx" % value) if unit == "x" else ("%.1f %%" % value)
    if value >= at_least:
        verdict = "held"
    elif unit == "x":
        verdict = "MISSED by %.1f %%" % (100.0 * (at_least / value - 1.0))
    else:
        verdict = "MISSED by %.1f points" % (at_least - value)
    return "  %-50s %12s   %s" % (what, shown, verdict)


def report(values):
    """values: {threads: {case name: row values (run_bench.row_values)}}. Returns the
    report's lines (empty when none of the targets' cases ran)."""
    one = values.get(1, {})
    lines = []
    for name, figure, at_least in PER_CASE:
        v = one.get(name)
        if v is None:
            continue
        if figure == "speedup":
            lines.append(_line("%s >= %gx PyTorch" % (name, at_least), v["speedup"], "x", at_least))
        else:
            lines.append(_line("%s >= %.0f %% of peak" % (name, at_least), v["peak_pct"], "%",
                               at_least))
    if one:
        speedups = [v["speedup"] for v in one.values() if v["speedup"]]
        slower = sorted(n for n, v in one.items() if v["speedup"] is not None and v["speedup"] <= 1.0)
        if speedups:
            lines.append(_line("every case faster than PyTorch (slowest)", min(speedups), "x", 1.0)
                         + ("" if not slower else ": " + ", ".join(slower)))
    base, multi = one.get(SCALING_CASE), values.get(SCALING_THREADS, {}).get(SCALING_CASE)
    if base and multi:
        ratio = base["attncc_ms"] / multi["attncc_ms"] if base["attncc_ms"] and multi["attncc_ms"] else None
        lines.append(_line("%s, %d threads >= %gx 1 thread" % (SCALING_CASE, SCALING_THREADS,
                                                                  SCALING_AT_LEAST),
                           ratio, "x", SCALING_AT_LEAST))
    if lines:
        lines.insert(0, "== performance targets (1 thread unless said; a report, nothing fails on it)")
    return lines
