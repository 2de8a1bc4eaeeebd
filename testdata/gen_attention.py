#!/usr/bin/python3
"""Generate the attention-probability fixtures under testdata/.

Run with Debian's PyTorch (python3-torch; no pip, no transformers needed),
after gen_reference.py (it reads that script's committed weights and inputs
and rewrites nothing else):

    /usr/bin/python3 testdata/gen_attention.py

For each tiny fixture it runs the float32 weights in float64 through the same
stock-module model gen_reference.py builds (nn.TransformerEncoderLayer) and
asks each block's nn.MultiheadAttention for its weights the way
output_attentions does (need_weights=True, average_attn_weights=False, on the
block's norm1 output), cross-checks them against softmax(q·kᵀ/√dh) written
with functional ops, and writes <fixture>/attentions.json:

  attentions  per layer [B, heads, T, T]: the attention probabilities
  rollout     [B, S, N]: attention rollout (Abnar & Zuidema 2020) of each
              special token ([CLS], then [DIST]) over the N patches: per
              layer the head-averaged attention plus the identity, rows
              renormalized, multiplied from the first layer to the last
  last        [B, S, heads + 1, N]: the last layer's attention of each
              special token over the patches, per head, then head-averaged

Every map over the patches is normalized to sum 1 (row-major patch grid).
Everything is deterministic: rerunning reproduces the files byte for byte.
"""

import collections
import json
import math
import os
import struct

import torch
import torch.nn.functional as F

from gen_reference import HERE, TorchDeiT, write_json, floats


def read_safetensors(path):
    with open(path, "rb") as f:
        n = struct.unpack("<Q", f.read(8))[0]
        header = json.loads(f.read(n))
        data = f.read()
    sd = collections.OrderedDict()
    for name, info in header.items():
        if name == "__metadata__":
            continue
        assert info["dtype"] == "F32", name
        lo, hi = info["data_offsets"]
        t = torch.frombuffer(bytearray(data[lo:hi]), dtype=torch.float32)
        sd[name] = t.reshape(info["shape"]).clone()
    return sd


def read_inputs():
    with open(os.path.join(HERE, "tiny-inputs.json")) as f:
        j = json.load(f)
    return torch.tensor(j["data"], dtype=torch.float32).reshape(j["shape"])


def attentions(sd, x, prefix, D, heads, layers, M, C, P, image, labels, eps):
    """Per layer [B, heads, T, T] in float64, from nn.MultiheadAttention."""
    special = 2 if "cls_classifier.weight" in sd else 1
    model = TorchDeiT(D, heads, layers, M, C, P, image, labels, eps, special)
    model.load_hf(sd, prefix, layers)
    model = model.double().eval()
    x = x.double()
    out = []
    with torch.no_grad():
        B = x.shape[0]
        e = model.proj(x).flatten(2).transpose(1, 2)
        h = torch.cat([model.special.expand(B, -1, -1), e], dim=1) + model.pos
        dh = D // heads
        for blk in model.blocks:
            a = blk.norm1(h)
            _, w = blk.self_attn(a, a, a, need_weights=True, average_attn_weights=False)
            # The same probabilities from functional ops on the fused weights.
            q, k, _ = F.linear(a, blk.self_attn.in_proj_weight, blk.self_attn.in_proj_bias).chunk(3, dim=-1)
            q = q.view(B, -1, heads, dh).transpose(1, 2)
            k = k.view(B, -1, heads, dh).transpose(1, 2)
            check = F.softmax(q @ k.transpose(-1, -2) / math.sqrt(dh), dim=-1)
            err = (w - check).abs().max().item()
            assert err < 1e-12, "MultiheadAttention weights and functional softmax disagree: %g" % err
            out.append(w)
            h = blk(h)
    return out, special


def patch_map(row, special):
    m = row[special:]
    return m / m.sum()


def rollout(att, special):
    """[B, S, N]: Abnar & Zuidema's rollout of the special tokens' rows."""
    T = att[0].shape[-1]
    eye = torch.eye(T, dtype=torch.float64)
    r = None
    for w in att:
        a = w.mean(dim=1) + eye
        a = a / a.sum(dim=-1, keepdim=True)
        r = a if r is None else a @ r
    return torch.stack([torch.stack([patch_map(r[b, s], special) for s in range(special)])
                        for b in range(r.shape[0])])


def last(att, special):
    """[B, S, heads + 1, N]: the last layer's special-token rows, per head then averaged."""
    w = att[-1]
    B, H = w.shape[0], w.shape[1]
    return torch.stack([torch.stack([torch.stack([patch_map(w[b, h, s], special) for h in range(H)] +
                                                 [patch_map(w[b, :, s].mean(dim=0), special)])
                                     for s in range(special)])
                        for b in range(B)])


def main():
    torch.set_num_threads(1)
    x = read_inputs()
    C, P, image, L = 3, 8, 32, 10
    fixtures = [
        # directory, weights, prefix, D, heads, layers, M, eps
        ("tiny-distilled", "tiny-distilled", "deit", 64, 2, 2, 256, 1e-12),
        # The timm checkpoint holds the same weights; without a config.json a
        # loader runs them with 1 head of 64 and eps 1e-6 (gen_reference.py).
        ("tiny-distilled-timm", "tiny-distilled", "deit", 64, 1, 2, 256, 1e-6),
        ("tiny-vit", "tiny-vit", "vit", 32, 2, 2, 128, 1e-12),
    ]
    for d, wdir, prefix, D, heads, layers, M, eps in fixtures:
        sd = read_safetensors(os.path.join(HERE, wdir, "model.safetensors"))
        att, special = attentions(sd, x, prefix, D, heads, layers, M, C, P, image, L, eps)
        write_json(os.path.join(HERE, d, "attentions.json"), collections.OrderedDict([
            ("note", "PyTorch float64 attention probabilities of the float32 weights (output_attentions); see gen_attention.py"),
            ("heads", heads), ("batch", x.shape[0]), ("tokens", att[0].shape[-1]), ("special", special),
            ("attentions", [floats(w) for w in att]),
            ("rollout", floats(rollout(att, special))),
            ("last", floats(last(att, special))),
        ]))
        print(d, "layers", len(att), "shape", list(att[0].shape))


if __name__ == "__main__":
    main()
