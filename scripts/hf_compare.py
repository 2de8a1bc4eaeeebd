#!/usr/bin/env python3
"""Compare vkdeit's logits with Hugging Face transformers on a random DeiT.

Builds a random-weight DeiTForImageClassificationWithTeacher with the real
transformers classes (deit-small-distilled shape by default, fixed seed),
saves it with save_pretrained twice (model.safetensors, and separately
pytorch_model.bin) next to a DeiT image-processor config (resize 256 bicubic,
crop 224, ImageNet mean/std), writes a few PNG test images, and classifies
them with HF (the PIL image-processing path, model in float64 on the CPU as the
reference, and float32) and with `vkdeit classify --json --top 1000` from both
directories. Prints per image the max absolute and relative L2 logit
difference and whether the top-5 agree; writes everything as JSON.

Exit status: 0 all within --tol, 1 a difference too large or top-5 disagree,
2 the comparison could not run (transformers missing, vkdeit failed).

    python3 scripts/hf_compare.py --vkdeit .gpubin/vkdeit --json out/hf_compare.json
"""

import argparse
import json
import math
import os
import subprocess
import sys
import tempfile
import time

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
MEAN = (0.485, 0.456, 0.406)
STD = (0.229, 0.224, 0.225)
SHAPES = {  # hidden, layers, heads, mlp, image, patch
    "small-distilled": (384, 12, 6, 1536, 224, 16),
    "tiny-distilled": (192, 12, 3, 768, 224, 16),
    "micro": (64, 2, 2, 256, 224, 16),  # plumbing checks on slow devices
}


def fail(msg, code=2):
    print(f"hf_compare.py: {msg}", file=sys.stderr, flush=True)
    sys.exit(code)


try:
    import numpy as np
    import torch
    from PIL import Image
except ImportError as e:
    fail(f"{e.name} is not installed (needs numpy, torch, pillow, transformers)")
try:
    import transformers
    from transformers import DeiTConfig, DeiTForImageClassificationWithTeacher
except ImportError:
    fail("transformers is not installed, so there is nothing to compare against "
         "(it is there on the lent GPU machine; here: pip install transformers)")


def make_model(shape, seed):
    D, L, H, M, img, P = SHAPES[shape]
    cfg = DeiTConfig(hidden_size=D, num_hidden_layers=L, num_attention_heads=H, intermediate_size=M,
                     image_size=img, patch_size=P, num_labels=1000,
                     id2label={i: f"class {i}" for i in range(1000)},
                     label2id={f"class {i}": i for i in range(1000)})
    cfg.architectures = ["DeiTForImageClassificationWithTeacher"]
    torch.manual_seed(seed)
    model = DeiTForImageClassificationWithTeacher(cfg).eval()
    # HF's init zeroes biases and sets LayerNorm to identity; randomize every
    # parameter so that biases and LayerNorm affine weights are exercised too.
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for name, p in model.named_parameters():
            r = torch.randn(p.shape, generator=g, dtype=torch.float32)
            if "layernorm" in name and name.endswith("weight"):
                p.copy_(1 + 0.1 * r)  # LayerNorm gains around 1
            else:
                p.copy_(0.05 * r)  # every other weight, bias and LayerNorm shift
    return model


def save_processor(d):
    """Saves a DeiT image-processor config (the hub values) into d."""
    kwargs = dict(do_resize=True, size={"height": 256, "width": 256}, resample=3, do_center_crop=True,
                  crop_size={"height": 224, "width": 224}, do_rescale=True, rescale_factor=1 / 255,
                  do_normalize=True, image_mean=list(MEAN), image_std=list(STD))
    for name in ("DeiTImageProcessorPil", "DeiTImageProcessor", "DeiTFeatureExtractor"):
        cls = getattr(transformers, name, None)
        if cls is None:
            continue
        try:
            proc = cls(**kwargs)
            proc.save_pretrained(d)
            return proc, name
        except Exception as e:  # noqa: BLE001 - try the next class
            print(f"hf_compare.py: {name}: {e}", file=sys.stderr)
    # Last resort: the file HF would write.
    with open(os.path.join(d, "preprocessor_config.json"), "w") as f:
        json.dump(dict(kwargs, image_processor_type="DeiTImageProcessor"), f, indent=2)
    return None, "written by hand"


def reference_pixels(path):
    """The PIL ("slow") DeiT preprocessing of docs/preprocessing.md, in numpy."""
    im = Image.open(path).convert("RGB").resize((256, 256), resample=Image.BICUBIC)
    a = np.asarray(im)[16:240, 16:240, :]
    x = (a.astype(np.float64) * (1 / 255)).astype(np.float32)
    x = (x - np.array(MEAN, dtype=np.float32)) / np.array(STD, dtype=np.float32)
    return x.transpose(2, 0, 1).copy()


def write_images(d, size):
    rng = np.random.default_rng(1234)
    paths = []

    def save(name, arr):
        p = os.path.join(d, name)
        Image.fromarray(arr).save(p)
        paths.append(p)

    save("noise.png", rng.integers(0, 256, size=(300, 400, 3), dtype=np.uint8))
    y, x = np.mgrid[0:size, 0:size]
    save("gradient.png", np.stack([x * 255 // size, y * 255 // size, (x ^ y) & 255], -1).astype(np.uint8))
    save("small.png", rng.integers(0, 256, size=(100, 150, 3), dtype=np.uint8))  # upscaled
    hopper = os.path.join(REPO, "samples", "grace_hopper.jpg")
    if os.path.exists(hopper):
        save("grace_hopper.png", np.asarray(Image.open(hopper).convert("RGB")))
    return paths


def diff(got, want):
    got, want = np.asarray(got, np.float64), np.asarray(want, np.float64)
    e = np.abs(got - want)
    worst = int(np.argmax(e))
    rel = float(np.linalg.norm(got - want) / max(np.linalg.norm(want), 1e-300))
    return {"max_abs": float(e[worst]), "rel_l2": rel, "worst_class": worst}


def top5_agree(got, want, tie):
    """Same top-5 in order, except swaps of classes whose reference logits are within tie."""
    tg, tw = np.argsort(-np.asarray(got), kind="stable")[:5], np.argsort(-np.asarray(want), kind="stable")[:5]
    for a, b in zip(tg, tw):
        if a != b and abs(want[a] - want[b]) > tie:
            return False
    return True


def run_vkdeit(binary, model_dir, images, device, timeout):
    cmd = [binary, "classify", "--json", "--top", "1000", "--batch", "8", "--device", device,
           "--model", model_dir] + images
    t0 = time.time()
    p = subprocess.run(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, timeout=timeout)
    if p.returncode != 0:
        fail(f"vkdeit classify failed (exit {p.returncode}): {p.stderr.strip()[-2000:]}")
    out = {}
    device_name = ""
    for line in p.stdout.splitlines():
        r = json.loads(line)
        logits = np.zeros(1000)
        for t in r["predictions"]:
            logits[t["index"]] = t["logit"]
        out[r["path"]] = logits
        device_name = r.get("device", "")
    return out, device_name, time.time() - t0, p.stderr.strip()


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--vkdeit", default=None, help="vkdeit binary (default .gpubin/vkdeit, else bin/vkdeit)")
    ap.add_argument("--device", default="gpu", help="vkdeit --device (default gpu)")
    ap.add_argument("--shape", default="small-distilled", choices=sorted(SHAPES))
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--tol", type=float, default=1e-4, help="largest relative L2 logit difference accepted")
    ap.add_argument("--workdir", help="keep the saved models and images here (default: a temporary directory)")
    ap.add_argument("--json", metavar="FILE", help="write the results here")
    ap.add_argument("--timeout", type=float, default=120, help="seconds per vkdeit call")
    a = ap.parse_args()
    binary = a.vkdeit or next((b for b in (os.path.join(REPO, ".gpubin", "vkdeit"), os.path.join(REPO, "bin", "vkdeit"))
                               if os.path.exists(b)), None)
    if not binary or not os.path.exists(binary):
        fail("no vkdeit binary: build one (make build, or scripts/gpu-prep.sh) or pass --vkdeit")
    torch.set_num_threads(min(16, os.cpu_count() or 1))

    work = a.workdir or tempfile.mkdtemp(prefix="hf_compare.")
    st_dir, bin_dir, img_dir = (os.path.join(work, n) for n in ("safetensors", "bin", "images"))
    for d in (st_dir, bin_dir, img_dir):
        os.makedirs(d, exist_ok=True)
    print(f"transformers {transformers.__version__}, torch {torch.__version__}, shape {a.shape}, seed {a.seed}", flush=True)
    model = make_model(a.shape, a.seed)
    model.save_pretrained(st_dir)
    bin_note = "save_pretrained(safe_serialization=False)"
    try:
        model.save_pretrained(bin_dir, safe_serialization=False)
    except TypeError:
        bin_note = "no safe_serialization=False in this transformers"
    if not os.path.exists(os.path.join(bin_dir, "pytorch_model.bin")):
        # transformers 5 writes only safetensors, and its in-memory
        # state_dict() names differ from the checkpoint names it saves (it
        # maps them on save). The hub's pytorch_model.bin files hold the saved
        # names, so build one from the safetensors file save_pretrained wrote:
        # a torch zip pickle with exactly the hub layout.
        from safetensors.torch import load_file
        if bin_note.startswith("save_pretrained"):
            bin_note = "torch.save of the saved model.safetensors tensors (save_pretrained wrote no pytorch_model.bin)"
        for f in os.listdir(bin_dir):
            if f.endswith(".safetensors"):
                os.remove(os.path.join(bin_dir, f))
        model.config.save_pretrained(bin_dir)
        torch.save(load_file(os.path.join(st_dir, "model.safetensors")), os.path.join(bin_dir, "pytorch_model.bin"))
    proc = None
    for d in (st_dir, bin_dir):
        proc, proc_name = save_processor(d)
    print(f"saved {sorted(os.listdir(st_dir))} and {sorted(os.listdir(bin_dir))}; .bin via {bin_note}; "
          f"processor {proc_name}", flush=True)

    images = write_images(img_dir, 224)
    ref_px = np.stack([reference_pixels(p) for p in images])
    proc_note = "not run"
    px = ref_px
    if proc is not None:
        try:
            hf_px = proc([Image.open(p).convert("RGB") for p in images], return_tensors="np")["pixel_values"]
            d = float(np.abs(np.asarray(hf_px, np.float32) - ref_px).max())
            proc_note = f"{type(proc).__name__}: max |HF − PIL recipe| = {d:.3g}"
        except Exception as e:  # noqa: BLE001
            proc_note = f"{type(proc).__name__} failed: {e}"
    print(f"preprocessing: {proc_note}; the model runs on the PIL-recipe pixels", flush=True)

    with torch.no_grad():
        ref64 = model.double()(pixel_values=torch.from_numpy(ref_px).double()).logits.numpy()
        ref32 = model.float()(pixel_values=torch.from_numpy(ref_px)).logits.numpy()

    results = {"transformers": transformers.__version__, "torch": torch.__version__, "shape": a.shape,
               "seed": a.seed, "bin_saved_with": bin_note, "preprocessing": proc_note, "tol": a.tol, "runs": []}
    ok = True
    print(f"\n{'weights':<12} {'image':<18} {'max abs':>10} {'rel L2':>10} {'HF fp32 rel':>12}  top-5")
    vk_logits = {}
    for label, d in (("safetensors", st_dir), ("bin", bin_dir)):
        got, dev, secs, err = run_vkdeit(binary, d, images, a.device, a.timeout)
        vk_logits[label] = got
        for i, p in enumerate(images):
            if p not in got:
                fail(f"vkdeit printed no result for {p}: {err[-1000:]}")
            dd = diff(got[p], ref64[i])
            d32 = diff(ref32[i], ref64[i])
            agree = top5_agree(got[p], ref64[i], 2 * dd["max_abs"])
            ok &= agree and dd["rel_l2"] <= a.tol
            results["runs"].append(dict(weights=label, image=os.path.basename(p), device=dev, **dd,
                                        hf_fp32_rel_l2=d32["rel_l2"], top5_agree=bool(agree), seconds=secs))
            print(f"{label:<12} {os.path.basename(p):<18} {dd['max_abs']:>10.3g} {dd['rel_l2']:>10.3g} "
                  f"{d32['rel_l2']:>12.3g}  {'agree' if agree else 'DIFFER'}", flush=True)
    same = all(np.array_equal(vk_logits["safetensors"][p], vk_logits["bin"][p]) for p in images)
    results["formats_identical"] = bool(same)
    ok &= same
    worst = max(r["rel_l2"] for r in results["runs"])
    results["worst_rel_l2"] = worst
    results["ok"] = bool(ok)
    print(f"\nvkdeit ({dev}) vs HF float64: worst rel L2 {worst:.3g} (tol {a.tol:g}); "
          f"safetensors and .bin give {'identical' if same else 'DIFFERENT'} logits; "
          f"{'OK' if ok else 'FAILED'}", flush=True)
    if a.json:
        with open(a.json, "w") as f:
            json.dump(results, f, indent=2)
    sys.exit(0 if ok else 1)


if __name__ == "__main__":
    main()
