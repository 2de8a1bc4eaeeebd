#!/usr/bin/python3
"""Generate the small PyTorch reference fixtures under testdata/.

Run with Debian's PyTorch (python3-torch; no pip, no transformers needed):

    /usr/bin/python3 testdata/gen_reference.py

It builds small random DeiT / ViT classifiers out of PyTorch's own modules
(nn.Conv2d, nn.TransformerEncoderLayer with norm_first=True, nn.LayerNorm,
nn.Linear) -- not a port of the Go code -- cross-checks that forward against a
second one written with plain functional ops (F.conv2d, F.layer_norm, F.linear,
F.softmax, F.gelu), and writes:

  tiny-inputs.json                  2 random images, float32, [2, 3, 32, 32] CHW
  tiny-distilled/config.json        HF DeiTForImageClassificationWithTeacher config
  tiny-distilled/model.safetensors  HF names (deit.*, cls_classifier, distillation_classifier), F32
  tiny-distilled/pytorch_model.bin  the same state dict through torch.save (zip); q/k/v are
                                    views into one fused storage (storage offsets) and one
                                    weight is stored transposed (non-contiguous strides)
  tiny-distilled/golden.json        logits, cls/dist logits, hidden state after every layer
  tiny-distilled-timm/model.pth     {"model": timm-named state dict, fused qkv}, no config.json
  tiny-distilled-timm/golden.json   the same weights run as a config-less loader must:
                                    LayerNorm eps 1e-6 and heads = hidden/64 = 1
  tiny-vit/config.json              HF ViTForImageClassification config (1 special token)
  tiny-vit/model.safetensors        vit.* names, classifier
  tiny-vit/golden.json

Weights are drawn in float32 and the reference forward runs in float64 on
those float32 values, so the goldens are the exact answer for the stored
weights up to float64 rounding. Everything is seeded: rerunning reproduces the
same bytes for the JSON and safetensors files (torch.save zips may differ in
their serialization id only).
"""

import collections
import json
import math
import os
import struct

import torch
import torch.nn as nn
import torch.nn.functional as F

HERE = os.path.dirname(os.path.abspath(__file__))
LABELS = ["airplane", "automobile", "bird", "cat, domestic cat", "deer",
          "dog", "frog", "horse", "ship", "truck"]


def randn(gen, *shape, std=1.0, mean=0.0):
    return (torch.randn(*shape, generator=gen, dtype=torch.float32) * std + mean).float()


def make_hf_weights(seed, prefix, D, layers, M, C, P, image, labels, distilled):
    """Random float32 state dict with HF names. Scales keep activations O(1)
    while the patch embeddings stay small (variance ~1e-3), so that the
    LayerNorm eps (1e-6 vs 1e-12) changes the logits measurably."""
    g = torch.Generator().manual_seed(seed)
    n = (image // P) ** 2
    special = 2 if distilled else 1
    sd = collections.OrderedDict()
    e = prefix + ".embeddings."
    sd[e + "cls_token"] = randn(g, 1, 1, D, std=0.02)
    if distilled:
        sd[e + "distillation_token"] = randn(g, 1, 1, D, std=0.02)
    sd[e + "position_embeddings"] = randn(g, 1, n + special, D, std=0.02)
    sd[e + "patch_embeddings.projection.weight"] = randn(g, D, C, P, P, std=0.004)
    sd[e + "patch_embeddings.projection.bias"] = randn(g, D, std=0.01)

    def linear(name, out_f, in_f):
        sd[name + ".weight"] = randn(g, out_f, in_f, std=1.0 / math.sqrt(in_f))
        sd[name + ".bias"] = randn(g, out_f, std=0.05)

    def norm(name):
        sd[name + ".weight"] = randn(g, D, std=0.1, mean=1.0)
        sd[name + ".bias"] = randn(g, D, std=0.05)

    for i in range(layers):
        p = "%s.encoder.layer.%d." % (prefix, i)
        norm(p + "layernorm_before")
        linear(p + "attention.attention.query", D, D)
        linear(p + "attention.attention.key", D, D)
        linear(p + "attention.attention.value", D, D)
        linear(p + "attention.output.dense", D, D)
        norm(p + "layernorm_after")
        linear(p + "intermediate.dense", M, D)
        linear(p + "output.dense", D, M)
    norm(prefix + ".layernorm")
    if distilled:
        linear("cls_classifier", labels, D)
        linear("distillation_classifier", labels, D)
    else:
        linear("classifier", labels, D)
    return sd


class TorchDeiT(nn.Module):
    """DeiT / ViT classifier from stock PyTorch modules."""

    def __init__(self, D, heads, layers, M, C, P, image, labels, eps, special):
        super().__init__()
        n = (image // P) ** 2
        self.proj = nn.Conv2d(C, D, kernel_size=P, stride=P)
        self.special = nn.Parameter(torch.zeros(1, special, D))
        self.pos = nn.Parameter(torch.zeros(1, n + special, D))
        self.blocks = nn.ModuleList([
            nn.TransformerEncoderLayer(D, heads, dim_feedforward=M, dropout=0.0,
                                       activation="gelu", layer_norm_eps=eps,
                                       batch_first=True, norm_first=True)
            for _ in range(layers)])
        self.norm = nn.LayerNorm(D, eps=eps)
        self.heads = nn.ModuleList([nn.Linear(D, labels) for _ in range(special)])

    def forward(self, x):
        B = x.shape[0]
        e = self.proj(x).flatten(2).transpose(1, 2)
        h = torch.cat([self.special.expand(B, -1, -1), e], dim=1) + self.pos
        hidden = []
        for blk in self.blocks:
            h = blk(h)
            hidden.append(h)
        z = self.norm(h)
        outs = [head(z[:, i]) for i, head in enumerate(self.heads)]
        return sum(outs) / len(outs), outs, hidden

    def load_hf(self, sd, prefix, layers):
        e = prefix + ".embeddings."
        tokens = [sd[e + "cls_token"]]
        if e + "distillation_token" in sd:
            tokens.append(sd[e + "distillation_token"])
        m = collections.OrderedDict()
        m["proj.weight"] = sd[e + "patch_embeddings.projection.weight"]
        m["proj.bias"] = sd[e + "patch_embeddings.projection.bias"]
        m["special"] = torch.cat(tokens, dim=1)
        m["pos"] = sd[e + "position_embeddings"]
        for i in range(layers):
            p = "%s.encoder.layer.%d." % (prefix, i)
            a = p + "attention.attention."
            b = "blocks.%d." % i
            for s in ("weight", "bias"):
                m[b + "self_attn.in_proj_" + s] = torch.cat(
                    [sd[a + "query." + s], sd[a + "key." + s], sd[a + "value." + s]])
                m[b + "self_attn.out_proj." + s] = sd[p + "attention.output.dense." + s]
                m[b + "linear1." + s] = sd[p + "intermediate.dense." + s]
                m[b + "linear2." + s] = sd[p + "output.dense." + s]
                m[b + "norm1." + s] = sd[p + "layernorm_before." + s]
                m[b + "norm2." + s] = sd[p + "layernorm_after." + s]
        heads = ["cls_classifier", "distillation_classifier"] if "cls_classifier.weight" in sd else ["classifier"]
        for s in ("weight", "bias"):
            m["norm." + s] = sd[prefix + ".layernorm." + s]
            for j, h in enumerate(heads):
                m["heads.%d.%s" % (j, s)] = sd[h + "." + s]
        self.load_state_dict({k: v.clone() for k, v in m.items()}, strict=True)


def functional_forward(sd, x, prefix, heads, layers, eps):
    """Second, independent forward from functional ops on the HF state dict."""
    e = prefix + ".embeddings."
    B = x.shape[0]
    y = F.conv2d(x, sd[e + "patch_embeddings.projection.weight"],
                 sd[e + "patch_embeddings.projection.bias"], stride=sd[e + "patch_embeddings.projection.weight"].shape[-1])
    y = y.flatten(2).transpose(1, 2)
    tok = [sd[e + "cls_token"].expand(B, -1, -1)]
    if e + "distillation_token" in sd:
        tok.append(sd[e + "distillation_token"].expand(B, -1, -1))
    h = torch.cat(tok + [y], dim=1) + sd[e + "position_embeddings"]
    T, D = h.shape[1], h.shape[2]
    dh = D // heads
    for i in range(layers):
        p = "%s.encoder.layer.%d." % (prefix, i)
        lin = lambda t, n: F.linear(t, sd[p + n + ".weight"], sd[p + n + ".bias"])
        a = F.layer_norm(h, (D,), sd[p + "layernorm_before.weight"], sd[p + "layernorm_before.bias"], eps)
        q = lin(a, "attention.attention.query").view(B, T, heads, dh).transpose(1, 2)
        k = lin(a, "attention.attention.key").view(B, T, heads, dh).transpose(1, 2)
        v = lin(a, "attention.attention.value").view(B, T, heads, dh).transpose(1, 2)
        att = F.softmax(q @ k.transpose(-1, -2) / math.sqrt(dh), dim=-1)
        o = (att @ v).transpose(1, 2).reshape(B, T, D)
        h = h + lin(o, "attention.output.dense")
        a = F.layer_norm(h, (D,), sd[p + "layernorm_after.weight"], sd[p + "layernorm_after.bias"], eps)
        h = h + lin(F.gelu(lin(a, "intermediate.dense")), "output.dense")
    z = F.layer_norm(h, (D,), sd[prefix + ".layernorm.weight"], sd[prefix + ".layernorm.bias"], eps)
    if "cls_classifier.weight" in sd:
        c = F.linear(z[:, 0], sd["cls_classifier.weight"], sd["cls_classifier.bias"])
        d = F.linear(z[:, 1], sd["distillation_classifier.weight"], sd["distillation_classifier.bias"])
        return (c + d) / 2
    return F.linear(z[:, 0], sd["classifier.weight"], sd["classifier.bias"])


def reference(sd, x, prefix, D, heads, layers, M, C, P, image, labels, eps):
    """Float64 forward of the float32 weights; returns (logits, head outputs, hidden)."""
    special = 2 if "cls_classifier.weight" in sd else 1
    model = TorchDeiT(D, heads, layers, M, C, P, image, labels, eps, special)
    model.load_hf(sd, prefix, layers)
    model = model.double().eval()
    x64 = x.double()
    with torch.no_grad():
        logits, outs, hidden = model(x64)
        sd64 = {k: v.double() for k, v in sd.items()}
        check = functional_forward(sd64, x64, prefix, heads, layers, eps)
    err = (logits - check).abs().max().item()
    assert err < 1e-10, "TransformerEncoderLayer and functional forward disagree: %g" % err
    return logits, outs, hidden


def timm_names(sd, layers):
    """HF DeiT names → timm/facebookresearch names with fused qkv (docs/checkpoints.md)."""
    t = collections.OrderedDict()
    e = "deit.embeddings."
    t["cls_token"] = sd[e + "cls_token"]
    t["dist_token"] = sd[e + "distillation_token"]
    t["pos_embed"] = sd[e + "position_embeddings"]
    t["patch_embed.proj.weight"] = sd[e + "patch_embeddings.projection.weight"]
    t["patch_embed.proj.bias"] = sd[e + "patch_embeddings.projection.bias"]
    for i in range(layers):
        p = "deit.encoder.layer.%d." % i
        a = p + "attention.attention."
        b = "blocks.%d." % i
        for s in ("weight", "bias"):
            t[b + "norm1." + s] = sd[p + "layernorm_before." + s]
            t[b + "attn.qkv." + s] = torch.cat([sd[a + "query." + s], sd[a + "key." + s], sd[a + "value." + s]]).contiguous()
            t[b + "attn.proj." + s] = sd[p + "attention.output.dense." + s]
            t[b + "norm2." + s] = sd[p + "layernorm_after." + s]
            t[b + "mlp.fc1." + s] = sd[p + "intermediate.dense." + s]
            t[b + "mlp.fc2." + s] = sd[p + "output.dense." + s]
    for s in ("weight", "bias"):
        t["norm." + s] = sd["deit.layernorm." + s]
        t["head." + s] = sd["cls_classifier." + s]
        t["head_dist." + s] = sd["distillation_classifier." + s]
    return t


def torch_bin_state_dict(sd, layers):
    """The HF state dict as a converter would hold it: q/k/v are row slices of
    one fused tensor (shared storage, nonzero storage offsets), and layer 0's
    output.dense.weight is a transposed view (strides (1, rows))."""
    out = collections.OrderedDict()
    for k, v in sd.items():
        out[k] = v.clone()
    D = sd["deit.embeddings.cls_token"].shape[-1]
    for i in range(layers):
        a = "deit.encoder.layer.%d.attention.attention." % i
        for s in ("weight", "bias"):
            fused = torch.cat([sd[a + "query." + s], sd[a + "key." + s], sd[a + "value." + s]]).contiguous()
            out[a + "query." + s] = fused[0:D]
            out[a + "key." + s] = fused[D:2 * D]
            out[a + "value." + s] = fused[2 * D:3 * D]
    w = "deit.encoder.layer.0.output.dense.weight"
    out[w] = sd[w].t().contiguous().t()
    assert not out[w].is_contiguous()
    return out


def write_safetensors(path, sd):
    header = {"__metadata__": {"format": "pt"}}
    blobs, off = [], 0
    for name in sorted(sd):
        b = sd[name].detach().contiguous().float().numpy().astype("<f4").tobytes()
        header[name] = {"dtype": "F32", "shape": list(sd[name].shape), "data_offsets": [off, off + len(b)]}
        blobs.append(b)
        off += len(b)
    h = json.dumps(header, separators=(",", ":")).encode()
    h += b" " * (-len(h) % 8)
    with open(path, "wb") as f:
        f.write(struct.pack("<Q", len(h)))
        f.write(h)
        for b in blobs:
            f.write(b)


def write_json(path, obj):
    """Top-level keys one per line, arrays compact."""
    with open(path, "w") as f:
        f.write("{\n")
        items = list(obj.items())
        for i, (k, v) in enumerate(items):
            f.write(" %s: %s%s\n" % (json.dumps(k), json.dumps(v, separators=(",", ":")), "," if i + 1 < len(items) else ""))
        f.write("}\n")


def floats(t):
    return [float(v) for v in t.detach().double().flatten().tolist()]


def hf_config(arch, model_type, D, heads, layers, M, P, image, eps, labels, qkv_key):
    c = collections.OrderedDict()
    c["architectures"] = [arch]
    c["attention_probs_dropout_prob"] = 0.0
    c["hidden_act"] = "gelu"
    c["hidden_dropout_prob"] = 0.0
    c["hidden_size"] = D
    c["id2label"] = {str(i): l for i, l in enumerate(labels)}
    c["image_size"] = image
    c["initializer_range"] = 0.02
    c["intermediate_size"] = M
    c["label2id"] = {l: i for i, l in enumerate(labels)}
    c["layer_norm_eps"] = eps
    c["model_type"] = model_type
    c["num_attention_heads"] = heads
    c["num_channels"] = 3
    c["num_hidden_layers"] = layers
    c["patch_size"] = P
    if qkv_key:
        c["qkv_bias"] = True
    c["torch_dtype"] = "float32"
    c["transformers_version"] = "4.6.0.dev0"
    return c


def preprocessor(image):
    return collections.OrderedDict([
        ("crop_size", {"height": image, "width": image}),
        ("do_center_crop", True), ("do_normalize", True), ("do_rescale", True), ("do_resize", True),
        ("image_mean", [0.485, 0.456, 0.406]), ("image_std", [0.229, 0.224, 0.225]),
        ("resample", 3), ("rescale_factor", 0.00392156862745098),
        ("size", {"height": image * 8 // 7, "width": image * 8 // 7}),
    ])


def rel(a, b):
    return ((a - b).norm() / b.norm()).item()


def main():
    torch.set_num_threads(1)
    C, P, image, B = 3, 8, 32, 2
    g = torch.Generator().manual_seed(20240601)
    x = randn(g, B, C, image, image)
    # Shortest float32 repr: parses back to the identical float32 value.
    data = ",".join(str(v) for v in x.flatten().numpy())
    with open(os.path.join(HERE, "tiny-inputs.json"), "w") as f:
        f.write('{\n "shape": [%d,%d,%d,%d],\n "data": [%s]\n}\n' % (B, C, image, image, data))

    # DeiT with teacher: hidden 64, 2 heads (head dim 32), 2 layers, MLP 256.
    D, heads, layers, M, L = 64, 2, 2, 256, 10
    sd = make_hf_weights(1, "deit", D, layers, M, C, P, image, L, distilled=True)
    d = os.path.join(HERE, "tiny-distilled")
    os.makedirs(d, exist_ok=True)
    write_json(os.path.join(d, "config.json"),
               hf_config("DeiTForImageClassificationWithTeacher", "deit", D, heads, layers, M, P, image, 1e-12, LABELS, False))
    write_json(os.path.join(d, "preprocessor_config.json"), preprocessor(image))
    write_safetensors(os.path.join(d, "model.safetensors"), sd)
    binsd = torch_bin_state_dict(sd, layers)
    torch.save(binsd, os.path.join(d, "pytorch_model.bin"))
    back = torch.load(os.path.join(d, "pytorch_model.bin"))
    assert all(torch.equal(back[k], sd[k]) for k in sd) and set(back) == set(sd)
    logits, (cls, dist), hidden = reference(sd, x, "deit", D, heads, layers, M, C, P, image, L, 1e-12)
    write_json(os.path.join(d, "golden.json"), collections.OrderedDict([
        ("note", "PyTorch float64 forward of the float32 weights, eps 1e-12; see gen_reference.py"),
        ("eps", 1e-12), ("heads", heads), ("batch", B), ("num_labels", L), ("tokens", hidden[0].shape[1]), ("hidden_size", D),
        ("logits", floats(logits)), ("cls_logits", floats(cls)), ("dist_logits", floats(dist)),
        ("hidden", [floats(h) for h in hidden]),
    ]))

    # The same weights as a timm / facebookresearch checkpoint without a
    # config.json. Such a file records neither the head count nor the eps, so
    # a loader assumes what every published DeiT has -- head dim 64, so this
    # D=64 model runs with 1 head -- and eps 1e-6, what timm/FB trained with.
    t = os.path.join(HERE, "tiny-distilled-timm")
    os.makedirs(t, exist_ok=True)
    torch.save({"model": timm_names(sd, layers)}, os.path.join(t, "model.pth"))
    theads = D // 64
    tlogits, (tcls, tdist), _ = reference(sd, x, "deit", D, theads, layers, M, C, P, image, L, 1e-6)
    t12, _, _ = reference(sd, x, "deit", D, theads, layers, M, C, P, image, L, 1e-12)
    write_json(os.path.join(t, "golden.json"), collections.OrderedDict([
        ("note", "PyTorch float64 forward of the float32 weights, eps 1e-6, %d head(s) of 64; see gen_reference.py" % theads),
        ("eps", 1e-6), ("heads", theads), ("batch", B), ("num_labels", L), ("hidden_size", D),
        ("logits", floats(tlogits)), ("cls_logits", floats(tcls)), ("dist_logits", floats(tdist)),
        ("logits_eps_1e-12", floats(t12)),
    ]))
    print("timm: eps 1e-6 vs 1e-12: relative logits difference %.3g" % rel(tlogits, t12))
    print("timm (1 head) vs HF (2 heads): relative logits difference %.3g" % rel(t12, logits))
    print("cls vs average: relative difference %.3g" % rel(cls, logits))

    # ViT layout (non-distilled facebook/deit-*): hidden 32, 2 heads (head dim 16), 2 layers, MLP 128.
    D, heads, layers, M = 32, 2, 2, 128
    vsd = make_hf_weights(2, "vit", D, layers, M, C, P, image, L, distilled=False)
    v = os.path.join(HERE, "tiny-vit")
    os.makedirs(v, exist_ok=True)
    write_json(os.path.join(v, "config.json"),
               hf_config("ViTForImageClassification", "vit", D, heads, layers, M, P, image, 1e-12, LABELS, True))
    write_safetensors(os.path.join(v, "model.safetensors"), vsd)
    vlogits, _, vhidden = reference(vsd, x, "vit", D, heads, layers, M, C, P, image, L, 1e-12)
    write_json(os.path.join(v, "golden.json"), collections.OrderedDict([
        ("note", "PyTorch float64 forward of the float32 weights, eps 1e-12; see gen_reference.py"),
        ("eps", 1e-12), ("heads", heads), ("batch", B), ("num_labels", L), ("tokens", vhidden[0].shape[1]), ("hidden_size", D),
        ("logits", floats(vlogits)),
        ("hidden", [floats(h) for h in vhidden]),
    ]))
    for name, lg in (("tiny-distilled", logits), ("tiny-vit", vlogits)):
        print(name, "argmax", lg.argmax(-1).tolist(), "logit std %.3g" % lg.std().item())


if __name__ == "__main__":
    main()
