#!/usr/bin/python3
"""Train the fixture's small DeiT and record PyTorch's answers on the test set.

Run from anywhere with Debian's PyTorch (python3-torch, python3-pil,
python3-numpy; no pip, no transformers), after gen_dataset.py has written
test/:

    /usr/bin/python3 testdata/trained/train.py

It draws the train split (gen_dataset.py --split train) into a temporary
folder, preprocesses every image exactly as Hugging Face's DeiTImageProcessor
does (loader/imageio/testdata/gen_golden.py's preprocess), and trains a
DeiT-with-teacher built from PyTorch's own modules (testdata/gen_reference.py's
TorchDeiT): hidden 64, 2 heads, 3 layers, MLP 256, image 48, patch 8 (36
patches + [CLS] + [DIST] = 38 tokens), LayerNorm eps 1e-12. There is no
teacher: both heads learn the true labels (DeiT's hard distillation with the
ground truth as the teacher), so the model has the flagship's layout and
logits = (cls + dist) / 2. Training is seeded and single-threaded: about 12
minutes on one core with OpenBLAS (see README.md: Debian's torch links the
reference BLAS, ten times slower). The BLAS changes the last bits of the
trained weights, never the agreement between the written weights and
golden.json, which is computed from them.

It writes, beside this script:

  model/config.json                HF DeiTForImageClassificationWithTeacher, id2label = the classes
  model/preprocessor_config.json   resize 54x54 (bicubic), center crop 48, ImageNet mean/std
  model/model.safetensors          HF names, F32
  golden.json                      for every test image (in test/CLASS/ file order): its path,
                                   label, PyTorch's float64 logits of the float32 weights (through
                                   gen_reference.py's reference(), which checks two independent
                                   forwards against each other), top-1, and the accuracy
"""

import collections
import os
import sys
import tempfile

import numpy as np
import torch
import torch.nn.functional as F

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))
sys.path.insert(0, os.path.join(ROOT, "testdata"))
sys.path.insert(0, os.path.join(ROOT, "loader", "imageio", "testdata"))
sys.path.insert(0, HERE)
import gen_dataset  # noqa: E402
import gen_golden  # noqa: E402
import gen_reference  # noqa: E402

D, HEADS, LAYERS, M, P, IMAGE, C, EPS = 64, 2, 3, 256, 8, 48, 3, 1e-12
EPOCHS, BATCH, LR, SEED = 40, 64, 2e-3, 7


def load_split(root, items, cfg):
    """Preprocessed pixels [N, 3, IMAGE, IMAGE] float32 and labels [N]."""
    xs = [gen_golden.preprocess(gen_golden.load_image(os.path.join(root, p)), cfg)[1] for p, _ in items]
    return torch.from_numpy(np.stack(xs)), torch.tensor([c for _, c in items])


def to_hf(model):
    """TorchDeiT parameters -> the HF state dict that load_hf reads (its inverse)."""
    m = {k: v.detach().clone().float() for k, v in model.state_dict().items()}
    sd = collections.OrderedDict()
    e = "deit.embeddings."
    sd[e + "cls_token"] = m["special"][:, 0:1].contiguous()
    sd[e + "distillation_token"] = m["special"][:, 1:2].contiguous()
    sd[e + "position_embeddings"] = m["pos"]
    sd[e + "patch_embeddings.projection.weight"] = m["proj.weight"]
    sd[e + "patch_embeddings.projection.bias"] = m["proj.bias"]
    for i in range(LAYERS):
        p = "deit.encoder.layer.%d." % i
        b = "blocks.%d." % i
        for s in ("weight", "bias"):
            q, k, v = m[b + "self_attn.in_proj_" + s].chunk(3)
            sd[p + "attention.attention.query." + s] = q.contiguous()
            sd[p + "attention.attention.key." + s] = k.contiguous()
            sd[p + "attention.attention.value." + s] = v.contiguous()
            sd[p + "attention.output.dense." + s] = m[b + "self_attn.out_proj." + s]
            sd[p + "intermediate.dense." + s] = m[b + "linear1." + s]
            sd[p + "output.dense." + s] = m[b + "linear2." + s]
            sd[p + "layernorm_before." + s] = m[b + "norm1." + s]
            sd[p + "layernorm_after." + s] = m[b + "norm2." + s]
    for s in ("weight", "bias"):
        sd["deit.layernorm." + s] = m["norm." + s]
        sd["cls_classifier." + s] = m["heads.0." + s]
        sd["distillation_classifier." + s] = m["heads.1." + s]
    return sd


def train(x, y):
    torch.manual_seed(SEED)
    L = len(gen_dataset.CLASSES)
    model = gen_reference.TorchDeiT(D, HEADS, LAYERS, M, C, P, IMAGE, L, EPS, special=2)
    with torch.no_grad():
        model.special.normal_(0, 0.02)
        model.pos.normal_(0, 0.02)
    opt = torch.optim.AdamW(model.parameters(), lr=LR, weight_decay=0.05)
    steps = EPOCHS * ((len(x) + BATCH - 1) // BATCH)
    sched = torch.optim.lr_scheduler.OneCycleLR(opt, max_lr=LR, total_steps=steps, pct_start=0.1)
    g = torch.Generator().manual_seed(SEED)
    for epoch in range(EPOCHS):
        model.train()
        perm = torch.randperm(len(x), generator=g)
        total, correct, n = 0.0, 0, 0
        for i in range(0, len(x), BATCH):
            idx = perm[i:i + BATCH]
            xb, yb = x[idx], y[idx]
            # Every class is closed under the square's symmetries: a random
            # quarter turn and mirror multiply the data by eight.
            flip = torch.rand(len(idx), generator=g) < 0.5
            xb = torch.where(flip[:, None, None, None], xb.flip(-1), xb)
            xb = torch.rot90(xb, int(torch.randint(4, (1,), generator=g)), (2, 3))
            logits, (cls, dist), _ = model(xb)
            loss = (F.cross_entropy(cls, yb) + F.cross_entropy(dist, yb)) / 2
            opt.zero_grad()
            loss.backward()
            opt.step()
            sched.step()
            total += loss.item() * len(idx)
            correct += (logits.argmax(-1) == yb).sum().item()
            n += len(idx)
        print("epoch %2d  loss %.4f  train accuracy %.4f" % (epoch + 1, total / n, correct / n), flush=True)
    return model.eval()


def main():
    torch.set_num_threads(1)
    classes = gen_dataset.CLASSES
    cfg = gen_reference.preprocessor(IMAGE)
    test_dir = os.path.join(HERE, "test")
    test_items = [(os.path.join(c, f), ci) for ci, c in enumerate(classes)
                  for f in sorted(os.listdir(os.path.join(test_dir, c)))]
    with tempfile.TemporaryDirectory() as tmp:
        items = gen_dataset.generate("train", tmp)
        x, y = load_split(tmp, items, cfg)
    print("train: %d images" % len(x), flush=True)
    model = train(x, y)

    sd = to_hf(model)
    out = os.path.join(HERE, "model")
    os.makedirs(out, exist_ok=True)
    gen_reference.write_json(os.path.join(out, "config.json"), gen_reference.hf_config(
        "DeiTForImageClassificationWithTeacher", "deit", D, HEADS, LAYERS, M, P, IMAGE, EPS, classes, False))
    gen_reference.write_json(os.path.join(out, "preprocessor_config.json"), cfg)
    gen_reference.write_safetensors(os.path.join(out, "model.safetensors"), sd)

    xt, yt = load_split(test_dir, test_items, cfg)
    logits, _, _ = gen_reference.reference(sd, xt, "deit", D, HEADS, LAYERS, M, C, P, IMAGE, len(classes), EPS)
    with torch.no_grad():
        f32, _, _ = model(xt)
    assert torch.equal(f32.argmax(-1), logits.argmax(-1)), "float32 and float64 top-1 differ"
    top1 = logits.argmax(-1)
    top2 = logits.topk(2, dim=-1).values
    margin = (top2[:, 0] - top2[:, 1]).min().item()
    correct = int((top1 == yt).sum())
    top5 = int((logits.topk(5, dim=-1).indices == yt[:, None]).any(-1).sum())
    n = len(yt)
    gen_reference.write_json(os.path.join(HERE, "golden.json"), collections.OrderedDict([
        ("note", "PyTorch float64 forward of model/ (float32 weights) on test/, preprocessed as HF's "
                 "DeiTImageProcessor; see train.py"),
        ("classes", classes), ("images", n), ("top1_correct", correct), ("top1", 100.0 * correct / n),
        ("top5_correct", top5), ("top5", 100.0 * top5 / n), ("min_top1_margin", margin),
        ("paths", [p for p, _ in test_items]), ("labels", yt.tolist()), ("predictions", top1.tolist()),
        ("logits", [gen_reference.floats(r) for r in logits]),
    ]))
    print("test: %d/%d top-1 (%.2f%%), %d/%d top-5; smallest top-1 logit margin %.3f" % (
        correct, n, 100.0 * correct / n, top5, n, margin))


if __name__ == "__main__":
    main()
