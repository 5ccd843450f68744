#!/usr/bin/python3
"""check_logits.py: checks examples/app's C program (built by `make test-app`) against PyTorch.

    check_logits.py build/app/generate

The PyTorch model is train.py's CharTransformer with the committed weights (no training).
1. For prompts shorter than, equal to and longer than the context window, the next-character
   logits that `generate --logits PROMPT` prints must match PyTorch's for the same text (the
   last CONTEXT characters, unpadded) within |c - ref| <= TOL * (1 + |ref|).
2. Each character of a greedy run (`generate -n 40 PROMPT`) must be PyTorch's argmax for the
   text before it, up to the same tolerance (a near tie may go either way).
3. Sampling with a seed is reproducible, and a prompt character outside the vocabulary is an
   error (exit 1).
"""

import os
import subprocess
import sys

import torch

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "..", "examples", "app"))
import train  # noqa: E402

TOL = 1e-4
PROMPTS = [
    "T",
    "This License",
    # exactly one window, then longer than one (the window slides)
    "the terms and conditions for copying, distribution and modification",
    "You may convey verbatim copies of the Program's source code as you receive it, in any medium,"
    " provided that you",
]


def run(exe, *args, check=True):
    p = subprocess.run([exe, *args], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                       errors="replace")
    if check and p.returncode != 0:
        sys.exit("test-app: %s %s exited %d: %s" % (exe, " ".join(args), p.returncode, p.stderr))
    return p


def main():
    if len(sys.argv) != 2:
        sys.exit(__doc__)
    exe = sys.argv[1]
    torch.set_num_threads(1)
    vocab = train.load_vocab()
    model = train.load_model(vocab=vocab)
    ctx = train.CONFIG["context"]
    stoi = {c: i for i, c in enumerate(vocab)}

    def ref_logits(text):
        ids = torch.tensor([[stoi[c] for c in text[-ctx:]]])
        with torch.no_grad():
            return model(ids)[0, -1].double()

    failures = 0
    worst = 0.0
    for prompt in PROMPTS[:2] + [PROMPTS[2][:ctx]] + PROMPTS[3:]:
        out = run(exe, "--logits", prompt).stdout.split()
        got = torch.tensor([float(v) for v in out], dtype=torch.float64)
        ref = ref_logits(prompt)
        if got.shape != ref.shape:
            print("test-app: FAIL %d logits for %r, expected %d" % (len(got), prompt, len(ref)))
            failures += 1
            continue
        abs_err = (got - ref).abs()
        rel = (abs_err / (1 + ref.abs())).max().item()
        worst = max(worst, abs_err.max().item())
        ok = rel <= TOL
        failures += not ok
        print("test-app: logits after %-3d chars  max_abs_err %.3g  max_rel_err %.3g  %s"
              % (len(prompt), abs_err.max().item(), rel, "ok" if ok else "MISMATCH"))

    prompt = PROMPTS[1]
    text = run(exe, "-n", "40", prompt).stdout[:-1]  # the program ends with a newline
    exact = 0
    for k in range(len(prompt), len(text)):
        ref = ref_logits(text[:k])
        chosen = ref[stoi[text[k]]].item()
        best = ref.max().item()
        exact += chosen == best
        if chosen < best - TOL * (1 + abs(best)):
            print("test-app: FAIL greedy character %d is %r, PyTorch's argmax is %r (%.6f vs %.6f)"
                  % (k, text[k], vocab[ref.argmax().item()], chosen, best))
            failures += 1
            break
    else:
        print("test-app: greedy run of 40 characters: every choice is PyTorch's argmax (%d exactly)" % exact)

    a = run(exe, "-n", "60", "-t", "0.8", "-s", "7", prompt).stdout
    b = run(exe, "-n", "60", "-t", "0.8", "-s", "7", prompt).stdout
    if a != b or len(a) != len(prompt) + 61:
        print("test-app: FAIL sampling with a seed is not reproducible: %r vs %r" % (a, b))
        failures += 1
    bad = run(exe, "--logits", "caf\u00e9", check=False)
    if bad.returncode != 1 or "not in the vocabulary" not in bad.stderr:
        print("test-app: FAIL a character outside the vocabulary gave exit %d: %s" % (bad.returncode, bad.stderr))
        failures += 1

    print("test-app: %s (max logit error %.3g)" % ("FAIL" if failures else "PASS", worst))
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
