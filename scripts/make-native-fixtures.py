#!/usr/bin/python3
"""Writes the native engine's test fixtures from an independent implementation: the PyTorch Qwen2
decoder of scripts/baselines/torch_qwen2_baseline.py (imported in place), evaluated in float64.

Run with Debian's python3-torch:  /usr/bin/python3 scripts/make-native-fixtures.py
Writes into test/fixtures/native/:
  config.json                HF-style Qwen2 config of the tiny model (untied LM head)
  model.safetensors          fp32 weights (HF names);  model.bf16.safetensors / model.f16.safetensors
  expected.safetensors       tokens (I32), seq_lens (I32), logits (N,V), loss (1), grad.<name> per tensor
The batch is two packed sequences; the loss is next-token CE summed over every non-first position
of each sequence, divided by the number of such positions.
"""
import argparse
import json
import os
import struct
import sys

import torch
import torch.nn.functional as F

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
CFG = dict(d_model=32, n_layers=2, n_heads=4, n_kv_heads=2, head_dim=8, ffn=64, vocab=48)
THETA, MAXLEN = 10000.0, 64
# lengths cross the kernels' 8- and 32-key blocking
SEQS = [[3, 17, 40, 5, 22, 9, 31, 47, 0], [12, 1, 44, 8, 30, 19, 7], [(7 * i + 3) % 48 for i in range(41)]]


def hf_name(n):
    if n.startswith("lm_head"):
        return n
    return "model." + n


def write_safetensors(path, tensors):
    header, blobs, at = {"__metadata__": {"format": "pt"}}, [], 0
    for name, (dtype, t) in tensors.items():
        if dtype == "BF16":
            b = t.contiguous().to(torch.bfloat16).view(torch.int16).numpy().tobytes()
        elif dtype == "F16":
            b = t.contiguous().to(torch.float16).numpy().tobytes()
        elif dtype == "I32":
            b = t.contiguous().to(torch.int32).numpy().tobytes()
        else:
            b = t.contiguous().to(torch.float32).numpy().tobytes()
        header[name] = {"dtype": dtype, "shape": list(t.shape), "data_offsets": [at, at + len(b)]}
        blobs.append(b)
        at += len(b)
    h = json.dumps(header, separators=(",", ":")).encode()
    h += b" " * ((8 - len(h) % 8) % 8)
    with open(path, "wb") as f:
        f.write(struct.pack("<Q", len(h)) + h + b"".join(blobs))


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--baselines", default=os.path.join(ROOT, "scripts", "baselines"))
    ap.add_argument("--out", default=os.path.join(ROOT, "test", "fixtures", "native"))
    args = ap.parse_args()
    sys.path.insert(0, args.baselines)
    from torch_qwen2_baseline import Qwen2Tiny  # the independent implementation, read in place

    torch.manual_seed(1234)
    model = Qwen2Tiny(CFG, MAXLEN, tied=False, rope_theta=THETA)
    with torch.no_grad():  # larger, non-trivial weights so every path matters
        for n, p in model.named_parameters():
            if "norm" in n:
                p.copy_(1.0 + 0.1 * torch.randn_like(p))
            elif n.endswith("bias"):
                p.copy_(0.1 * torch.randn_like(p))
            else:
                p.copy_(0.15 * torch.randn_like(p))
    os.makedirs(args.out, exist_ok=True)
    params = {hf_name(n): p.detach().clone() for n, p in model.named_parameters()}
    write_safetensors(os.path.join(args.out, "model.safetensors"), {n: ("F32", t) for n, t in params.items()})
    write_safetensors(os.path.join(args.out, "model.bf16.safetensors"), {n: ("BF16", t) for n, t in params.items()})
    write_safetensors(os.path.join(args.out, "model.f16.safetensors"), {n: ("F16", t) for n, t in params.items()})

    model = model.double()
    model.cos, model.sin = model.cos.double(), model.sin.double()
    logits_all, loss_sum, count = [], 0.0, 0
    for s in SEQS:
        ids = torch.tensor([s])
        logits = model(ids)[0]
        logits_all.append(logits)
        loss_sum = loss_sum + F.cross_entropy(logits[:-1], ids[0, 1:], reduction="sum")
        count += len(s) - 1
    loss = loss_sum / count
    loss.backward()
    out = {
        "tokens": ("I32", torch.tensor([t for s in SEQS for t in s])),
        "seq_lens": ("I32", torch.tensor([len(s) for s in SEQS])),
        "logits": ("F32", torch.cat(logits_all).detach().float()),
        "loss": ("F32", loss.detach().float().reshape(1)),
    }
    for n, p in model.named_parameters():
        out["grad." + hf_name(n)] = ("F32", p.grad.detach().float())
    write_safetensors(os.path.join(args.out, "expected.safetensors"), out)
    config = dict(architectures=["Qwen2ForCausalLM"], model_type="qwen2", vocab_size=CFG["vocab"],
                  hidden_size=CFG["d_model"], num_hidden_layers=CFG["n_layers"], num_attention_heads=CFG["n_heads"],
                  num_key_value_heads=CFG["n_kv_heads"], head_dim=CFG["head_dim"], intermediate_size=CFG["ffn"],
                  rope_theta=THETA, rms_norm_eps=1e-6, tie_word_embeddings=False, max_position_embeddings=MAXLEN)
    with open(os.path.join(args.out, "config.json"), "w") as f:
        json.dump(config, f, indent=2)
        f.write("\n")
    print(f"wrote fixtures to {args.out}: loss {loss.item():.6f}, {sum(p.numel() for p in model.parameters())} params")


if __name__ == "__main__":
    main()
