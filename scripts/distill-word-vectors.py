#!/usr/bin/env python3
"""Word vectors for the lexical matcher (assets/word-vectors.bin), distilled from the sentence
model all-MiniLM-L6-v2: every WordPiece of its vocabulary is run through the model alone
([CLS] piece [SEP], mean pooling, L2 normalisation, as a sentence would be), the vectors are
centred and turned onto their principal components (all of them, largest first, so that the
first k components of every row are the best k-dimensional projection: the matcher uses fewer
for larger sets), and each row is stored as int8 with a scale of its own. The matcher averages
the vectors of a message's pieces: 12 MB that know "relocated" is near "moved" without running
the model at classification time.

    python3 scripts/fetch-model.py
    python3 scripts/distill-word-vectors.py [MODEL_DIR] > assets/word-vectors.bin

Needs numpy and scipy (pip install numpy scipy). About 3 minutes on 2 cores. The forward pass is
the numpy one of scripts/reference-embeddings.py, batched; the result depends only on the model (up to float rounding).

File layout (little endian): b"FLWV", u32 version (2), u32 pieces, u32 DIM, u32 LEAD, the
sha256 of everything after this header (32 bytes); then each piece as u8 byte length + UTF-8;
then one f32 scale per piece; then pieces x LEAD int8 (each piece's first LEAD components), then
pieces x (DIM - LEAD) int8 (the rest): value = scale x int. A matcher that uses only the leading
components reads (and keeps in memory) only the first block.
"""
import hashlib
import importlib.util
import json
import os
import struct
import sys

import numpy as np
from scipy.special import erf

DIM = 384
LEAD = 128
BATCH = 512

HERE = os.path.dirname(os.path.abspath(__file__))
spec = importlib.util.spec_from_file_location("reference", os.path.join(HERE, "reference-embeddings.py"))
reference = importlib.util.module_from_spec(spec)
spec.loader.exec_module(reference)


def encoder(model_dir):
    cfg = json.load(open(os.path.join(model_dir, "config.json")))
    t = {
        k: v.astype(np.float32)
        for k, v in reference.load_safetensors(os.path.join(model_dir, "model.safetensors")).items()
    }
    eps, heads = cfg["layer_norm_eps"], cfg["num_attention_heads"]

    def norm(x, w, b):
        mu = x.mean(-1, keepdims=True)
        var = ((x - mu) ** 2).mean(-1, keepdims=True)
        return (x - mu) / np.sqrt(var + eps) * w + b

    def lin(name, v):
        return v @ t[name + ".weight"].T + t[name + ".bias"]

    def forward(ids):  # (batch, n) token ids -> (batch, hidden), mean pooled, unit length
        b, n = ids.shape
        x = (
            t["embeddings.word_embeddings.weight"][ids]
            + t["embeddings.position_embeddings.weight"][:n]
            + t["embeddings.token_type_embeddings.weight"][0]
        )
        x = norm(x, t["embeddings.LayerNorm.weight"], t["embeddings.LayerNorm.bias"])
        d = x.shape[-1] // heads
        for i in range(cfg["num_hidden_layers"]):
            p = f"encoder.layer.{i}."

            def split(name):
                return lin(p + name, x).reshape(b, n, heads, d).transpose(0, 2, 1, 3)

            q, k, v = split("attention.self.query"), split("attention.self.key"), split("attention.self.value")
            s = q @ k.transpose(0, 1, 3, 2) / np.sqrt(d)
            s = np.exp(s - s.max(-1, keepdims=True))
            s /= s.sum(-1, keepdims=True)
            ctx = (s @ v).transpose(0, 2, 1, 3).reshape(b, n, heads * d)
            x = norm(
                x + lin(p + "attention.output.dense", ctx),
                t[p + "attention.output.LayerNorm.weight"],
                t[p + "attention.output.LayerNorm.bias"],
            )
            h = lin(p + "intermediate.dense", x)
            h = 0.5 * h * (1.0 + erf(h / np.sqrt(2.0)))
            x = norm(
                x + lin(p + "output.dense", h),
                t[p + "output.LayerNorm.weight"],
                t[p + "output.LayerNorm.bias"],
            )
        m = x.mean(1)
        return m / np.linalg.norm(m, axis=1, keepdims=True)

    return forward


def main():
    model_dir = sys.argv[1] if len(sys.argv) > 1 else os.path.join(os.path.dirname(HERE), "models", "all-MiniLM-L6-v2")
    vocab = [line.rstrip("\n") for line in open(os.path.join(model_dir, "vocab.txt"), encoding="utf-8")]
    cls, sep = vocab.index("[CLS]"), vocab.index("[SEP]")
    # Special and unused entries never come out of the matcher's tokenizer.
    keep = [i for i, p in enumerate(vocab) if not (p.startswith("[") and p.endswith("]"))]
    forward = encoder(model_dir)
    vectors = np.zeros((len(keep), 384), np.float32)
    for a in range(0, len(keep), BATCH):
        ids = np.array([[cls, i, sep] for i in keep[a : a + BATCH]])
        vectors[a : a + len(ids)] = forward(ids)
    vectors -= vectors.mean(0)
    _, _, vt = np.linalg.svd(vectors, full_matrices=False)
    projected = vectors @ vt[:DIM].T
    scale = np.abs(projected).max(1) / 127.0
    scale[scale == 0] = 1.0
    quantized = np.clip(np.rint(projected / scale[:, None]), -127, 127).astype(np.int8)

    body = b"".join(struct.pack("<B", len(vocab[i].encode("utf-8"))) + vocab[i].encode("utf-8") for i in keep)
    body += scale.astype("<f4").tobytes()
    body += np.ascontiguousarray(quantized[:, :LEAD]).tobytes()
    body += np.ascontiguousarray(quantized[:, LEAD:]).tobytes()
    out = sys.stdout.buffer
    out.write(b"FLWV" + struct.pack("<IIII", 2, len(keep), DIM, LEAD) + hashlib.sha256(body).digest())
    out.write(body)


if __name__ == "__main__":
    main()
