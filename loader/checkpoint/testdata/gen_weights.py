#!/usr/bin/python3
"""Writes the small weight files the loader tests read, with real writers.

Run with Debian's python3-torch (torch 1.13):  /usr/bin/python3 gen_weights.py
from loader/checkpoint/testdata. Outputs (all committed, a few KB each):

  weights-zip.pt           torch.save zip format (folder "weights-zip/")
  weights-legacy.pt        same dict, _use_new_zipfile_serialization=False
  weights-fb.pth           {"model": ..., "args": argparse.Namespace, ...}, zip
                           written through a stream (folder "archive/")
  weights-fb-legacy.pth    the same in the legacy format
  weights-bigendian.pt     a zip checkpoint rewritten with byteorder "big"
  weights-hand.safetensors safetensors written by hand (no safetensors lib)
  weights-expected.json    file -> tensor name -> {"shape", "values"}

Values are float32 numbers printed with repr, so they round-trip exactly.
"""

import argparse
import io
import json
import os
import struct
import zipfile

import torch

torch.manual_seed(1234)


def vals(t):
    return [float(v) for v in t.detach().to(torch.float32).flatten().tolist()]


def expect(sd):
    return {k: {"shape": list(v.shape), "values": vals(v)} for k, v in sd.items()}


# The zip/legacy state dict: every layout feature the reader must honour.
base = torch.randn(6, 5)
shared = torch.randn(20)
sd = {
    "linear.weight": torch.randn(4, 3),
    "linear.bias": torch.randn(4),
    "conv.weight": torch.randn(2, 3, 2, 2),
    "scalar": torch.tensor(3.25),
    "empty": torch.zeros(0, 3),
    "transposed": base.t(),                   # non-contiguous view
    "sliced": base[1:5:2, 1:4],               # offset + stride view
    "shared.a": shared[:8].view(2, 4),        # two tensors, one storage
    "shared.b": shared[8:].view(3, 4),        # storage offset 8
    "expanded": torch.randn(3, 1).expand(3, 4),  # zero stride
    "half": torch.randn(3, 4).half(),
    "bf16": torch.randn(2, 5).bfloat16(),
    "double": torch.randn(5).double(),
    "long": torch.arange(-3, 3, dtype=torch.int64),
    "mask": torch.tensor([True, False, True]),
}
sd["half"][0, 0] = 6.0e-5  # an fp16 subnormal-range value
torch.save(sd, "weights-zip.pt")
torch.save(sd, "weights-legacy.pt", _use_new_zipfile_serialization=False)

# A Facebook-style training checkpoint: state dict under "model", plus
# unrelated objects the reader must tolerate without executing anything.
model = {
    "cls_token": torch.randn(1, 1, 4),
    "head.weight": torch.nn.Parameter(torch.randn(3, 4)),
    "head.bias": torch.randn(3),
}
args = argparse.Namespace(lr=5e-4, model="deit_tiny", epochs=300, drop=None,
                          sizes=[1, 2], flags={"amp": True})
fb = {
    "model": model,
    "optimizer": {"state": {0: {"exp_avg": torch.randn(3)}}, "param_groups": [{"lr": 0.1}]},
    "epoch": 299,
    "args": args,
}
buf = io.BytesIO()
torch.save(fb, buf)
with open("weights-fb.pth", "wb") as f:
    f.write(buf.getvalue())
torch.save(fb, "weights-fb-legacy.pth", _use_new_zipfile_serialization=False)

# Big-endian: a zip checkpoint whose storages are byte-swapped and which says
# so in its byteorder record (as torch >= 2.1 writes on big-endian hosts).
# Storage keys are numbered in order of first use: 0 f32, 1 f16, 2 f64.
be = {"f32": torch.randn(2, 3), "f16": torch.randn(4).half(), "f64": torch.randn(3).double()}
torch.save(be, "tmp-be.pt")
sizes = {"0": 4, "1": 2, "2": 8}
with zipfile.ZipFile("tmp-be.pt") as zin, zipfile.ZipFile("weights-bigendian.pt", "w", zipfile.ZIP_STORED) as zout:
    names = zin.namelist()
    prefix = names[0].split("/")[0] + "/"
    for name in names:
        data = zin.read(name)
        key = name[len(prefix + "data/"):] if name.startswith(prefix + "data/") else None
        if key in sizes:
            n = sizes[key]
            data = b"".join(data[i:i + n][::-1] for i in range(0, len(data), n))
        zout.writestr(zipfile.ZipInfo(name, (1980, 1, 1, 0, 0, 0)), data)
    zout.writestr(zipfile.ZipInfo(prefix + "byteorder", (1980, 1, 1, 0, 0, 0)), "big")
os.remove("tmp-be.pt")

# safetensors by hand: F32, F16, BF16, F64, a scalar and an empty tensor, with
# the reference writer's conventions (sorted names, space-padded header).
st = {
    "a.f32": (torch.randn(2, 3), "F32"),
    "b.f16": (torch.randn(3, 2).half(), "F16"),
    "c.bf16": (torch.randn(4).bfloat16(), "BF16"),
    "d.f64": (torch.randn(2, 2).double(), "F64"),
    "e.scalar": (torch.tensor(-1.5), "F32"),
    "f.empty": (torch.zeros(0, 4), "F32"),
}
header = {"__metadata__": {"format": "pt"}}
blobs = []
off = 0
for name in sorted(st):
    t, dt = st[name]
    if dt == "BF16":
        raw = t.view(torch.int16).numpy().astype("<i2").tobytes()
    else:
        raw = t.numpy().astype({"F32": "<f4", "F16": "<f2", "F64": "<f8"}[dt]).tobytes()
    header[name] = {"dtype": dt, "shape": list(t.shape), "data_offsets": [off, off + len(raw)]}
    blobs.append(raw)
    off += len(raw)
hj = json.dumps(header, separators=(",", ":")).encode()
hj += b" " * (-len(hj) % 8)
with open("weights-hand.safetensors", "wb") as f:
    f.write(struct.pack("<Q", len(hj)) + hj + b"".join(blobs))

# Cross-check: torch's own loader agrees with the tensors we wrote.
for path, ref in [("weights-zip.pt", sd), ("weights-legacy.pt", sd)]:
    got = torch.load(path)
    for k in ref:
        assert torch.equal(got[k], ref[k]), (path, k)

expected = {
    "weights-zip.pt": expect(sd),
    "weights-legacy.pt": expect(sd),
    "weights-fb.pth": expect(model),
    "weights-fb-legacy.pth": expect(model),
    "weights-bigendian.pt": expect(be),
    "weights-hand.safetensors": expect({k: v[0] for k, v in st.items()}),
}
with open("weights-expected.json", "w") as f:
    json.dump(expected, f, indent=1, sort_keys=True)
    f.write("\n")
