#!/usr/bin/python3
"""train.py: trains the character-level causal transformer of examples/app on the license
texts of Debian's base-files package (/usr/share/common-licenses) and writes its weights
(weights.safetensors, float32) and vocabulary (vocab.json) beside this file.

The model (CharTransformer) mirrors examples/app/model.lua module for module, so the
state_dict loads into the attncc model unchanged. tests/app/check_logits.py imports it.

    /usr/bin/python3 examples/app/train.py             # about 3 minutes on one core
    /usr/bin/python3 examples/app/train.py --steps 50  # a quick smoke run
"""

import argparse
import json
import math
import os
import sys
import time

import torch
import torch.nn as nn
import torch.nn.functional as F

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "..", "tools"))
from attncc_ref import save_safetensors  # noqa: E402

# the model's sizes; model.lua has the same defaults (CONTEXT, D_MODEL, ...)
CONFIG = {"context": 64, "d_model": 64, "heads": 4, "layers": 4, "ffn": 256}
TEXT_DIR = "/usr/share/common-licenses"  # from base-files, present on every Debian system


class CausalSelfAttention(nn.Module):
    def __init__(self, d_model, heads, context):
        super().__init__()
        self.heads = heads
        self.qkv = nn.Linear(d_model, 3 * d_model)
        self.proj = nn.Linear(d_model, d_model)
        # True above the diagonal: a position may not attend to later positions
        self.register_buffer("future", torch.triu(torch.ones(context, context, dtype=torch.bool), 1),
                             persistent=False)

    def forward(self, x):
        B, T, C = x.shape
        q, k, v = self.qkv(x).split(C, dim=2)
        hd = C // self.heads
        q = q.view(B, T, self.heads, hd).transpose(1, 2)
        k = k.view(B, T, self.heads, hd).transpose(1, 2)
        v = v.view(B, T, self.heads, hd).transpose(1, 2)
        scores = torch.matmul(q, k.transpose(-2, -1)) / math.sqrt(hd)
        scores = scores.masked_fill(self.future[:T, :T], float("-inf"))
        y = torch.matmul(torch.softmax(scores, dim=-1), v)
        y = y.transpose(1, 2).contiguous().view(B, T, C)
        return self.proj(y)


class Block(nn.Module):
    """pre-norm transformer block: x + attn(ln1(x)), then x + mlp(ln2(x))"""

    def __init__(self, d_model, heads, ffn, context):
        super().__init__()
        self.ln1 = nn.LayerNorm(d_model)
        self.attn = CausalSelfAttention(d_model, heads, context)
        self.ln2 = nn.LayerNorm(d_model)
        self.mlp = nn.Sequential(nn.Linear(d_model, ffn), nn.GELU(), nn.Linear(ffn, d_model))

    def forward(self, x):
        x = x + self.attn(self.ln1(x))
        x = x + self.mlp(self.ln2(x))
        return x


class CharTransformer(nn.Module):
    def __init__(self, vocab, context, d_model, heads, layers, ffn):
        super().__init__()
        self.tok_emb = nn.Embedding(vocab, d_model)
        self.pos_emb = nn.Embedding(context, d_model)
        self.blocks = nn.ModuleList([Block(d_model, heads, ffn, context) for _ in range(layers)])
        self.ln_f = nn.LayerNorm(d_model)
        self.head = nn.Linear(d_model, vocab)

    def forward(self, ids):
        T = ids.shape[1]
        x = self.tok_emb(ids) + self.pos_emb(torch.arange(T))
        for block in self.blocks:
            x = block(x)
        return self.head(self.ln_f(x))


def read_corpus():
    """the license texts (regular files only, sorted), tabs as spaces, form feeds dropped"""
    names = sorted(f for f in os.listdir(TEXT_DIR) if not os.path.islink(os.path.join(TEXT_DIR, f)))
    parts = []
    for name in names:
        with open(os.path.join(TEXT_DIR, name), encoding="ascii") as f:
            parts.append(f.read().replace("\t", " ").replace("\f", ""))
    return "\n".join(parts), names


def load_vocab(path=os.path.join(HERE, "vocab.json")):
    with open(path) as f:
        return json.load(f)


def load_model(weights=os.path.join(HERE, "weights.safetensors"), vocab=None):
    """the trained model (eval mode) from the committed weights"""
    from attncc_ref import load_safetensors
    vocab = vocab if vocab is not None else load_vocab()
    model = CharTransformer(len(vocab), **CONFIG)
    model.load_state_dict(load_safetensors(weights))
    return model.eval()


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--steps", type=int, default=1500)
    ap.add_argument("--batch", type=int, default=32)
    ap.add_argument("--lr", type=float, default=3e-3)
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--seed", type=int, default=1234)
    ap.add_argument("--out", default=HERE, help="directory for weights.safetensors and vocab.json")
    args = ap.parse_args()

    torch.set_num_threads(args.threads)
    torch.manual_seed(args.seed)
    text, names = read_corpus()
    vocab = "".join(sorted(set(text)))
    stoi = {c: i for i, c in enumerate(vocab)}
    data = torch.tensor([stoi[c] for c in text], dtype=torch.long)
    split = int(len(data) * 0.95)  # the last 5% is held out for the validation loss
    train, val = data[:split], data[split:]
    ctx = CONFIG["context"]
    print("text: %d files from %s (base-files), %d characters, vocabulary %d"
          % (len(names), TEXT_DIR, len(text), len(vocab)))

    model = CharTransformer(len(vocab), **CONFIG)
    nparams = sum(p.numel() for p in model.parameters())
    print("model: %d parameters, %s" % (nparams, CONFIG))
    opt = torch.optim.AdamW(model.parameters(), lr=args.lr, weight_decay=0.01)
    warmup = 50

    def lr_at(step):  # linear warm-up, then cosine decay to a tenth
        if step < warmup:
            return args.lr * (step + 1) / warmup
        frac = (step - warmup) / max(1, args.steps - warmup)
        return args.lr * (0.1 + 0.9 * 0.5 * (1 + math.cos(math.pi * frac)))

    def batch(src, gen):
        starts = torch.randint(len(src) - ctx - 1, (args.batch,), generator=gen)
        x = torch.stack([src[s:s + ctx] for s in starts])
        y = torch.stack([src[s + 1:s + ctx + 1] for s in starts])
        return x, y

    def val_loss():
        model.eval()
        gen = torch.Generator().manual_seed(0)
        with torch.no_grad():
            losses = []
            for _ in range(20):
                x, y = batch(val, gen)
                losses.append(F.cross_entropy(model(x).view(-1, len(vocab)), y.view(-1)).item())
        model.train()
        return sum(losses) / len(losses)

    gen = torch.Generator().manual_seed(args.seed)
    t0 = time.time()
    running = None
    for step in range(args.steps):
        for group in opt.param_groups:
            group["lr"] = lr_at(step)
        x, y = batch(train, gen)
        loss = F.cross_entropy(model(x).view(-1, len(vocab)), y.view(-1))
        opt.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        opt.step()
        running = loss.item() if running is None else 0.95 * running + 0.05 * loss.item()
        if step % 100 == 0 or step == args.steps - 1:
            print("step %5d  loss %.3f  %.0f s" % (step, running, time.time() - t0), flush=True)
    seconds = time.time() - t0
    vl = val_loss()
    print("done: %d steps in %.0f s, train loss %.3f, validation loss %.3f" % (args.steps, seconds, running, vl))

    model.eval()
    meta = dict({k: str(v) for k, v in CONFIG.items()}, vocab=str(len(vocab)),
                text="base-files:" + TEXT_DIR, steps=str(args.steps), seed=str(args.seed),
                train_loss="%.4f" % running, val_loss="%.4f" % vl)
    weights = {k: v.detach().float().contiguous() for k, v in model.state_dict().items()}
    save_safetensors(os.path.join(args.out, "weights.safetensors"), weights, meta)
    # a JSON string is also a C string literal (ASCII text): generate.c #includes it
    with open(os.path.join(args.out, "vocab.json"), "w") as f:
        f.write(json.dumps(vocab) + "\n")
    print("wrote %s/weights.safetensors and vocab.json" % args.out)


if __name__ == "__main__":
    main()
