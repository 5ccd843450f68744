#!/usr/bin/python3
"""Compile every example with attncc and compare it with its PyTorch twin.

usage: /usr/bin/python3 tests/e2e/run_compare.py [-j N] [--torch-only] [--list] [-v] [FILTER ...]

For each case of tests/e2e/cases.py whose name contains one of the FILTER
substrings (all cases when none is given):
  1. build the PyTorch module (seeded, parameters re-initialised with randn * 0.2),
     run it with tools/attncc_ref.py's export_reference, writing weights.safetensors
     and ref.safetensors into a temporary directory;
  2. run   $ATTNCC check examples/X.lua --weights W --ref R -D K=V ...
     (weights embedded in the C code), and
  3. run the same with --runtime-weights (weights loaded by the C loader at run time).
`attncc check` prints, per output, `check: output NAME shape [..] max_abs_err E max_rel_err R`
and exits 0 when every output is within |out - ref| <= 1e-4 * (1 + |ref|), 1 otherwise.
A run passes when attncc exits 0 and reported every output the reference holds.

Prints a table (case, mode, max abs err, PASS/FAIL; attncc's stderr on failure) and
a last line `N passed, M failed`; exits 1 when anything failed.

options:
  -j N           run N cases in parallel in a process pool (default 2)
  --torch-only   no attncc: run the PyTorch side of every case, export it, read the
                 files back with load_safetensors and check they round-trip exactly;
                 also runs the case in float64 and fails it when PyTorch's own float32
                 result is more than COND_LIMIT of attncc's tolerance away from float64
                 (an ill-conditioned case would fail attncc for rounding alone);
                 prints every case's input and output shapes and that ratio
  --list         print the case names and their attncc command lines
  --keep         keep the temporary directories (printed)
  -v             print attncc's stdout for passing runs too

environment:
  ATTNCC         the compiler (default ./attncc at the repository root)
  PYTHON         the interpreter with torch (default /usr/bin/python3); the script
                 re-executes itself with it when the current one cannot import torch,
                 and uses it for the worker processes
  ATTNCC_TARGETS comma-separated --target values to test (default: every target this
                 machine can run: generic, avx2, avx512, and neon under qemu-aarch64 when
                 an AArch64 cross compiler is installed: every third case)
  ATTNCC_SPLIT   attncc built with every thread-split threshold at its least (make
                 build/attncc-split; make test-e2e sets it): when set, every other
                 example case's 2-thread run on the best target is made by it (mode
                 split2/...), so the small shapes go through the threaded paths; the
                 other cases' by ATTNCC, at the thresholds users get (threads2/...)
  ATTNCC_NEON_CC the cross compiler for neon (default aarch64-linux-gnu-gcc)
  ATTNCC_ARMHF_CC the cross compiler of the armhf/generic mode, the portable code on
                 32-bit ARM under qemu-arm (default arm-linux-gnueabihf-gcc; the mode
                 runs when it and qemu-arm are installed: every third case)
  CC             the C compiler attncc check builds with (default clang), given
                 -DATTNCC_TRAP_UNPLANNED_ROWS here (as is each mode's --cc compiler: gcc,
                 the neon cross compilers): a GEMM strip height the emitter did not plan
                 for (templates/kernels.c) stops the program
  ATTNCC_TIMEOUT seconds per attncc run (default 60; the whole suite took 3.3 minutes
                 on the 2 cores of the development machine, 2026-12-07)
"""

import os
import platform
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))
sys.path.insert(0, os.path.join(ROOT, "tools"))
from torch_python import require_torch  # noqa: E402  (tools/torch_python.py)

require_torch(__file__)  # re-executes this script with $PYTHON when torch does not import
import torch  # noqa: E402

import multiprocessing  # noqa: E402
import re  # noqa: E402
import shutil  # noqa: E402
import subprocess  # noqa: E402
import tempfile  # noqa: E402
import time  # noqa: E402

sys.path.insert(0, HERE)
import attncc_ref  # noqa: E402
import cases as cases_mod  # noqa: E402

CHECK_RE = re.compile(r"^check: output (\S+) shape \[([^\]]*)\] max_abs_err (\S+) max_rel_err (\S+)",
                      re.M)
def neon_cross_args():
    """attncc check's arguments that build --target neon with an AArch64 cross compiler and
    run it under qemu's user-mode emulator, or None when either is missing (or the machine
    is AArch64 itself: then neon runs natively)."""
    if platform.machine() in ("aarch64", "arm64"):
        return []
    cc = os.environ.get("ATTNCC_NEON_CC", "aarch64-linux-gnu-gcc")
    if not (shutil.which(cc.split()[0]) and shutil.which("qemu-aarch64")):
        return None
    return ["--cc", cc, "--emulator", "qemu-aarch64"]


def armhf_args():
    """attncc check's arguments that build the portable code for 32-bit ARM (armhf: 4-byte
    pointers and size_t, and a third compiler) with a cross compiler and run it under qemu's
    user-mode emulator, or None when either is missing."""
    cc = os.environ.get("ATTNCC_ARMHF_CC", "arm-linux-gnueabihf-gcc")
    if not (shutil.which(cc.split()[0]) and shutil.which("qemu-arm")):
        return None
    return ["--target", "generic", "--cc", cc, "--emulator", "qemu-arm"]


def machine_targets():
    """The attncc targets this machine can execute: generic always, neon natively on AArch64
    or through an AArch64 cross compiler and qemu, avx2/avx512 by CPU flags."""
    if platform.machine() in ("aarch64", "arm64"):
        return ["generic", "neon"]
    flags = set()
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("flags"):
                    flags = set(line.split(":", 1)[1].split())
                    break
    except OSError:
        pass
    targets = ["generic"]
    if neon_cross_args() is not None:
        targets.append("neon")
    if {"avx2", "fma"} <= flags:
        targets.append("avx2")
    if {"avx512f", "avx512vl", "avx512dq"} <= flags:
        targets.append("avx512")
    return targets


GCC_O3_FMA = "gcc -O3 -mavx2 -mfma"  # the --cc of the gcc-O3/generic mode

# Every build defines this: a GEMM strip height the emitter did not plan for stops the
# program (templates/kernels.c, PREFIX_GEMM_PARTIAL_ROWS) instead of going a row at a time
# unnoticed. CC carries it (attncc check's default compiler), and so does a mode's --cc.
TRAP_UNPLANNED = "-DATTNCC_TRAP_UNPLANNED_ROWS"


def with_trap(extra):
    """A mode's attncc arguments with TRAP_UNPLANNED added to its --cc compiler, if any."""
    out = list(extra)
    if "--cc" in out:
        i = out.index("--cc") + 1
        out[i] = out[i] + " " + TRAP_UNPLANNED
    return out


SPLIT_MODE = "split2/%s"  # the 2-thread mode run by the forced-split compiler


def split_attncc_path():
    """The compiler built with every thread-split threshold at its least (ATTNCC_SPLIT,
    `make build/attncc-split`), or None."""
    a = os.environ.get("ATTNCC_SPLIT")
    return os.path.abspath(a) if a else None


def make_modes(targets):
    """Embedded weights on every target; run-time weights on the best one; and the best one
    split over 2 threads (OpenMP), so the threaded GEMM and attention paths are compared too
    (and an emulated neon, which is never the best here, over 2 threads as well)."""
    def target_args(t):
        return ["--target", t] + ((neon_cross_args() or []) if t == "neon" else [])
    best = targets[-1]
    modes = [("embedded/%s" % t, target_args(t)) for t in targets]
    modes.append(("runtime/%s" % best, ["--runtime-weights"] + target_args(best)))
    modes.append(("threads2/%s" % best, target_args(best) + ["--threads", "2"]))
    if split_attncc_path():  # every loop split that can be (every other case: case_modes)
        modes.append((SPLIT_MODE % best, target_args(best) + ["--threads", "2"]))
    if "generic" in targets and "avx2" in targets and shutil.which("gcc"):
        # the portable kernels as gcc -O3 builds them with FMA: the tile's fmaf path and its
        # -O2 vectorizer cost model (kernels_generic.c)
        modes.append(("gcc-O3/generic", ["--target", "generic", "--cc", GCC_O3_FMA]))
    if "neon" in targets and best != "neon" and "--emulator" in target_args("neon"):
        modes.append(("threads2/neon", target_args("neon") + ["--threads", "2"]))
        if shutil.which("clang"):  # the other compiler, named with its flag (--cc's words)
            modes.append(("clang/neon", ["--target", "neon", "--cc", "clang --target=aarch64-linux-gnu",
                                         "--emulator", "qemu-aarch64"]))
    if "generic" in targets and armhf_args() is not None:
        modes.append(("armhf/generic", armhf_args()))
    return tuple(modes)


TARGETS = [t for t in os.environ.get("ATTNCC_TARGETS", "").split(",") if t] or machine_targets()
MODES = make_modes(TARGETS)


def attncc_path():
    a = os.environ.get("ATTNCC")
    if a:
        return os.path.abspath(a) if os.sep in a else (shutil.which(a) or a)
    return os.path.join(ROOT, "attncc")


def define_args(defines):
    args = []
    for k, v in defines.items():
        args += ["-D", "%s=%s" % (k, v)]
    return args


def check_command(case, wpath, rpath, extra, mode=""):
    compiler = split_attncc_path() if mode.startswith(SPLIT_MODE % "") else attncc_path()
    return [compiler, "check", os.path.join("examples", case.lua), "--weights", wpath,
            "--ref", rpath] + define_args(case.defines) + extra


def export_case(case, tmpdir):
    """Run the torch side; write weights/ref. Returns (inputs, outputs, wpath, rpath)."""
    module = cases_mod.make_module(case)
    inputs = cases_mod.make_inputs(case)
    wpath = os.path.join(tmpdir, "weights.safetensors")
    rpath = os.path.join(tmpdir, "ref.safetensors")
    outputs = attncc_ref.export_reference(module, inputs, wpath, rpath, case.outputs,
                                          call=case.call, metadata={"case": case.name})
    return module, inputs, outputs, wpath, rpath


def _fmt_err(x):
    return "%.3e" % x if x is not None else "-"


def parse_check(stdout):
    """{name: (shape str, max_abs_err float, max_rel_err float)} from attncc check's stdout."""
    res = {}
    for m in CHECK_RE.finditer(stdout):
        try:
            abs_e, rel_e = float(m.group(3)), float(m.group(4))
        except ValueError:
            abs_e = rel_e = float("nan")
        res[m.group(1)] = (m.group(2), abs_e, rel_e)
    return res


def _case(case):
    """Workers get a case's index (cases hold lambdas, which do not pickle)."""
    return cases_mod.CASES[case] if isinstance(case, int) else case


EMULATED_EVERY = 3


def split_case(index):
    """Whether case number `index` runs its 2-thread run through the forced-split compiler
    (when there is one): every other example case; the op-level models keep theirs at the
    thresholds users get, as they were written for (inputs big enough to be split, row
    groups as they form)."""
    return split_attncc_path() is not None and index % 2 == 1 and \
        not cases_mod.CASES[index].name.startswith("ops_")


def case_modes(index):
    """The modes case number `index` runs: all, except that the emulated ones (qemu, about 5x
    the CPU time of a native run, its build included) run for every EMULATED_EVERY-th case,
    which still covers each example (test-kernels runs the emulated GEMM over every tail),
    and the emulated 2-thread and clang-built ones for every third of those; the generic
    code built by gcc -O3 with FMA for every EMULATED_EVERY-th case too, other ones, and
    the generic code on 32-bit ARM for the third of the cases left; the native 2-thread run
    by the forced-split compiler for the cases split_case picks, instead of ATTNCC."""
    def runs(mode, extra):
        if mode.startswith(SPLIT_MODE % ""):
            return split_case(index)
        if mode.startswith("threads2/") and "--emulator" not in extra:
            return not split_case(index)
        if GCC_O3_FMA in extra:
            return index % EMULATED_EVERY == 1
        if "qemu-arm" in extra:
            return index % EMULATED_EVERY == 2
        if "--emulator" not in extra:
            return True
        if "--threads" in extra:
            return index % (3 * EMULATED_EVERY) == 0
        if "clang" in " ".join(extra):  # other cases than the 2-thread ones
            return index % (3 * EMULATED_EVERY) == EMULATED_EVERY
        return index % EMULATED_EVERY == 0
    return [(m, extra) for m, extra in MODES if runs(m, extra)]


def run_case(case, keep=False):
    """Worker: export and run the case's attncc modes. Returns a list of result dicts."""
    index = case if isinstance(case, int) else cases_mod.CASES.index(case)
    case = _case(case)
    torch.set_num_threads(1)
    tmpdir = tempfile.mkdtemp(prefix="attncc_e2e_%s_" % case.name[:40])
    results = []
    try:
        try:
            _, _, outputs, wpath, rpath = export_case(case, tmpdir)
        except Exception as e:  # a broken torch side fails both modes
            import traceback
            msg = "torch export failed: %s\n%s" % (e, traceback.format_exc())
            return [dict(case=case.name, mode=m, ok=False, err=None, detail=msg, cmd="")
                    for m, _ in case_modes(index)]
        timeout = float(os.environ.get("ATTNCC_TIMEOUT", "60"))
        env = dict(os.environ, CC=os.environ.get("CC", "clang") + " " + TRAP_UNPLANNED)
        for mode, extra in case_modes(index):
            cmd = check_command(case, wpath, rpath, with_trap(extra), mode)
            t0 = time.time()
            try:
                p = subprocess.run(cmd, cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                   universal_newlines=True, timeout=timeout, env=env)
                rc, out, err = p.returncode, p.stdout, p.stderr
            except FileNotFoundError as e:
                rc, out, err = 127, "", "cannot run %s: %s" % (cmd[0], e)
            except subprocess.TimeoutExpired as e:
                rc = -1
                out = e.stdout if isinstance(e.stdout, str) else ""
                err = "timed out after %.0f s\n%s" % (timeout, e.stderr if isinstance(e.stderr, str) else "")
            secs = time.time() - t0
            checks = parse_check(out)
            missing = [n for n in outputs if n not in checks]
            errs = [v[1] for v in checks.values()]
            max_err = max(errs) if errs else None
            ok = rc == 0 and not missing
            detail = ""
            if not ok:
                detail = "$ %s\nexit status %d\n" % (" ".join(cmd), rc)
                if rc == 0 and missing:
                    detail += "attncc check exited 0 but reported no result for: %s\n" % ", ".join(missing)
                if out.strip():
                    detail += "--- stdout ---\n%s\n" % out.rstrip()
                if err.strip():
                    detail += "--- stderr ---\n%s\n" % err.rstrip()
            results.append(dict(case=case.name, mode=mode, ok=ok, err=max_err, detail=detail,
                                stdout=out, secs=secs, cmd=" ".join(cmd)))
    finally:
        if keep:
            sys.stderr.write("kept %s\n" % tmpdir)
        else:
            shutil.rmtree(tmpdir, ignore_errors=True)
    return results


COND_LIMIT = 0.25
TOL = 1e-4


def conditioning(case, module, inputs, outputs):
    """max over outputs of |out32 - out64| / (TOL * (1 + |out64|)): how much of attncc's
    tolerance PyTorch's own float32 rounding uses up (NaN positions must agree)."""
    import copy
    m64 = copy.deepcopy(module).double()
    in64 = {k: (v.double() if isinstance(v, torch.Tensor) and v.is_floating_point() else v)
            for k, v in inputs.items()}
    with torch.no_grad():
        res = case.call(m64, in64) if case.call is not None else m64(**in64)
    res = res if isinstance(res, (tuple, list)) else (res,)
    worst = 0.0
    for name, r in zip(case.outputs, res):
        if r is None or name not in outputs:
            continue
        o = outputs[name].double()
        nan = torch.isnan(o) | torch.isnan(r)
        if not torch.equal(torch.isnan(o), torch.isnan(r)):
            return float("inf")
        err = (o - r).abs()[~nan]
        if err.numel():
            worst = max(worst, float((err / (TOL * (1 + r.abs()[~nan]))).max()))
    return worst


def torch_only_case(case):
    """Worker for --torch-only: export, read back, compare bit for bit, report shapes."""
    case = _case(case)
    torch.set_num_threads(1)
    tmpdir = tempfile.mkdtemp(prefix="attncc_e2e_")
    try:
        module, inputs, outputs, wpath, rpath = export_case(case, tmpdir)
        problems = []
        w = attncc_ref.load_safetensors(wpath)
        sd = module.state_dict()
        if list(w.keys()) != list(sd.keys()):
            problems.append("weights keys differ: %s vs %s" % (list(w.keys()), list(sd.keys())))
        for k, t in sd.items():
            if k in w and not (w[k].dtype == t.dtype and torch.equal(w[k], t)):
                problems.append("weight %s does not round-trip" % k)
        r, meta = attncc_ref.load_safetensors(rpath, with_metadata=True)
        if meta != {"case": case.name}:
            problems.append("metadata does not round-trip: %r" % (meta,))
        expect = [(k, v) for k, v in inputs.items() if v is not None] + list(outputs.items())
        if list(r.keys()) != [k for k, _ in expect]:
            problems.append("ref keys %s, expected %s" % (list(r.keys()), [k for k, _ in expect]))
        for k, t in expect:
            if k not in r:
                continue
            same = r[k].dtype == t.dtype and r[k].shape == t.shape and (
                torch.equal(r[k], t) or (t.is_floating_point() and
                                         torch.equal(torch.isnan(r[k]), torch.isnan(t)) and
                                         torch.equal(r[k].nan_to_num(0), t.nan_to_num(0))))
            if not same:
                problems.append("ref tensor %s does not round-trip" % k)
        for k, t in outputs.items():
            # a "_nanrows" case has fully -inf-masked rows on purpose: NaN there, as in attncc
            nan_ok = "_nanrows" in case.name and not torch.isnan(t).all()
            if not torch.isfinite(t[~torch.isnan(t)] if nan_ok else t).all():
                problems.append("output %s has non-finite values" % k)
        cond = conditioning(case, module, inputs, outputs)
        if cond > COND_LIMIT:
            problems.append("ill-conditioned: float32 vs float64 differ by %.2f x the tolerance "
                            "(limit %.2f)" % (cond, COND_LIMIT))
        shapes = []
        for k, t in expect:
            dt = str(t.dtype).replace("torch.", "")
            shapes.append("%s%s%s" % (k, list(t.shape), "" if dt == "float32" else ":" + dt))
        nparams = sum(t.numel() for t in sd.values())
        return dict(case=case.name, ok=not problems, problems=problems, shapes=shapes, cond=cond,
                    weights=len(sd), nparams=nparams,
                    files=(os.path.getsize(wpath), os.path.getsize(rpath)))
    except Exception as e:
        import traceback
        return dict(case=case.name, ok=False, problems=["%s\n%s" % (e, traceback.format_exc())],
                    shapes=[], weights=0, nparams=0, files=(0, 0), cond=float("nan"))
    finally:
        shutil.rmtree(tmpdir, ignore_errors=True)


def _pool(jobs):
    ctx = multiprocessing.get_context("spawn")
    py = os.environ.get("PYTHON")
    if py:
        ctx.set_executable(py)
    return ctx.Pool(processes=jobs)


def _map(fn, items, jobs):
    """Yield fn(item) in order, using a process pool when jobs > 1."""
    if jobs <= 1 or len(items) <= 1:
        for it in items:
            yield fn(it)
        return
    with _pool(min(jobs, len(items))) as pool:
        for r in pool.imap(fn, items):
            yield r


def _run_case_keep(case):
    return run_case(case, keep=True)


def self_test_safetensors():
    """Round-trip every dtype, an empty and a 0-d tensor, and check the header layout."""
    import json
    import struct
    tensors = {
        "f32": torch.randn(3, 5), "f16": torch.randn(4).half(), "bf16": torch.randn(2, 3).bfloat16(),
        "f64": torch.randn(2).double(), "i64": torch.arange(-3, 4), "i32": torch.arange(5, dtype=torch.int32),
        "i16": torch.tensor([-7, 8], dtype=torch.int16), "i8": torch.tensor([-128, 127], dtype=torch.int8),
        "u8": torch.tensor([0, 255], dtype=torch.uint8), "bool": torch.tensor([True, False, True]),
        "empty": torch.zeros(0, 4), "scalar": torch.tensor(2.5),
        "strided": torch.randn(4, 6).t(),
    }
    fd, path = tempfile.mkstemp(suffix=".safetensors")
    os.close(fd)
    try:
        attncc_ref.save_safetensors(path, tensors, metadata={"format": "pt"})
        back, meta = attncc_ref.load_safetensors(path, with_metadata=True)
        assert meta == {"format": "pt"}, meta
        assert list(back.keys()) == list(tensors.keys())
        for k, t in tensors.items():
            assert back[k].dtype == t.dtype and back[k].shape == t.shape and torch.equal(back[k], t), k
        with open(path, "rb") as f:
            raw = f.read()
        (n,) = struct.unpack("<Q", raw[:8])
        assert n % 8 == 0
        header = json.loads(raw[8:8 + n])
        end = 0
        for k in tensors:
            b, e = header[k]["data_offsets"]
            assert b == end, k
            end = e
        assert 8 + n + end == len(raw)
        assert header["i64"]["dtype"] == "I64" and header["bool"]["dtype"] == "BOOL"
        assert raw[8 + n + header["i64"]["data_offsets"][0]:][:8] == struct.pack("<q", -3)
    finally:
        os.unlink(path)


def main(argv):
    jobs, torch_only, list_only, keep, verbose, filters = 2, False, False, False, False, []
    i = 0
    while i < len(argv):
        a = argv[i]
        if a == "-j" and i + 1 < len(argv):
            jobs = int(argv[i + 1])
            i += 1
        elif a.startswith("-j") and a[2:].isdigit():
            jobs = int(a[2:])
        elif a == "--torch-only":
            torch_only = True
        elif a == "--list":
            list_only = True
        elif a == "--keep":
            keep = True
        elif a == "-v":
            verbose = True
        elif a in ("-h", "--help"):
            print(__doc__.strip())
            return 0
        elif a.startswith("-"):
            sys.stderr.write("run_compare.py: unknown option %s\n" % a)
            return 2
        else:
            filters.append(a)
        i += 1

    selected = [c for c in cases_mod.CASES if not filters or any(f in c.name for f in filters)]
    indices = [cases_mod.CASES.index(c) for c in selected]
    if not selected:
        sys.stderr.write("run_compare.py: no case matches %s\n" % " ".join(filters))
        return 2

    if list_only:
        for c in selected:
            print("%s\n    %s" % (c.name, " ".join(check_command(c, "W", "R", []))))
        return 0

    t0 = time.time()
    if torch_only:
        self_test_safetensors()
        print("safetensors self-test: ok")
        passed = failed = 0
        for r in _map(torch_only_case, indices, jobs):
            status = "PASS" if r["ok"] else "FAIL"
            print("%-62s %s  cond %.3f  %2d tensors %7d params  %s" % (
                r["case"], status, r["cond"], r["weights"], r["nparams"], " ".join(r["shapes"])))
            for p in r["problems"]:
                print("    " + p.replace("\n", "\n    "))
            passed += r["ok"]
            failed += not r["ok"]
        print("(%.1f s)" % (time.time() - t0))
        print("%d passed, %d failed" % (passed, failed))
        return 1 if failed else 0

    if not os.path.exists(attncc_path()):
        sys.stderr.write("run_compare.py: warning: %s does not exist (set ATTNCC)\n" % attncc_path())
    print("%-58s %-16s %-11s %s" % ("case", "mode", "max abs err", "result"))
    passed = failed = 0
    fn = _run_case_keep if keep else run_case
    for results in _map(fn, indices, jobs):
        for r in results:
            status = "PASS" if r["ok"] else "FAIL"
            print("%-58s %-16s %-11s %s" % (r["case"], r["mode"], _fmt_err(r["err"]), status), flush=True)
            if not r["ok"]:
                print("    " + r["detail"].rstrip().replace("\n", "\n    "))
            elif verbose and r.get("stdout", "").strip():
                print("    " + r["stdout"].rstrip().replace("\n", "\n    "))
            passed += r["ok"]
            failed += not r["ok"]
    print("(%.1f s)" % (time.time() - t0))
    print("%d passed, %d failed" % (passed, failed))
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
