#!/usr/bin/python3
"""Time PyTorch's CPU forward of a random-weight DeiT next to `vkdeit bench`.

Builds deit-small-distilled (or another size) from plain torch ops (conv patch
embedding, pre-LayerNorm blocks with exact GELU, [CLS]+[DIST] tokens, two heads
averaged), with random weights, and times its forward with a fixed number of
threads at batch 1 and 8 (warm-up + timed iterations, like `vkdeit bench`).
With --vkdeit it runs `vkdeit bench --cpu --json` in the same run on the same
machine and prints the throughput ratios. Uses Debian's python3-torch
(`/usr/bin/python3`); it is not part of CI.

Debian's torch calls whatever BLAS provides libblas.so.3: the reference
("generic") BLAS runs at ~5 GFLOPS on 2 cores, OpenBLAS at ~75. Install
`libopenblas0-pthread` first (the script measures a matmul and warns when
the BLAS is that slow), or the baseline is 15x too slow to mean anything.

    /usr/bin/python3 bench/torch_cpu.py --vkdeit bin/vkdeit
    /usr/bin/python3 bench/torch_cpu.py --batch 1 --iters 10 --json torch.json
"""

import argparse
import json
import math
import os
import platform
import subprocess
import sys
import tempfile
import time

try:
    import torch
    import torch.nn.functional as F
except ImportError:
    sys.exit("torch_cpu.py: PyTorch is missing; on Debian: apt-get install python3-torch (run with /usr/bin/python3)")

PRESETS = {  # hidden, layers, heads, mlp
    "tiny-distilled": (192, 12, 3, 768),
    "small-distilled": (384, 12, 6, 1536),
    "base-distilled": (768, 12, 12, 3072),
}


class DeiT:
    """deit-*-distilled-patch16-224 in plain torch ops, random weights."""

    def __init__(self, hidden, layers, heads, mlp, image=224, patch=16, labels=1000, seed=1):
        g = torch.Generator().manual_seed(seed)

        def rnd(*shape, std=0.02):
            return torch.randn(*shape, generator=g) * std

        D = hidden
        self.D, self.H, self.P, self.image = D, heads, patch, image
        n = (image // patch) ** 2
        self.patch_w = rnd(D, 3, patch, patch)
        self.patch_b = rnd(D)
        self.special = rnd(1, 2, D)
        self.pos = rnd(1, n + 2, D)
        self.layers = []
        for _ in range(layers):
            self.layers.append(dict(
                ln1_g=1 + rnd(D), ln1_b=rnd(D), qkv_w=rnd(3 * D, D), qkv_b=rnd(3 * D),
                proj_w=rnd(D, D), proj_b=rnd(D), ln2_g=1 + rnd(D), ln2_b=rnd(D),
                fc1_w=rnd(mlp, D), fc1_b=rnd(mlp), fc2_w=rnd(D, mlp), fc2_b=rnd(D)))
        self.norm_g, self.norm_b = 1 + rnd(D), rnd(D)
        self.cls_w, self.cls_b = rnd(labels, D), rnd(labels)
        self.dist_w, self.dist_b = rnd(labels, D), rnd(labels)
        # FLOPs as deit.Config.FLOPs counts them (2 × multiply-adds of matrix products).
        T = n + 2
        per_layer = T * D * 3 * D + 2 * T * T * D + T * D * D + 2 * T * D * mlp
        self.flops = 2 * (n * D * 3 * patch * patch + layers * per_layer + 2 * D * labels)

    def forward(self, x):
        B = x.shape[0]
        D, H = self.D, self.H
        x = F.conv2d(x, self.patch_w, self.patch_b, stride=self.P).flatten(2).transpose(1, 2)
        x = torch.cat([self.special.expand(B, -1, -1), x], dim=1) + self.pos
        T = x.shape[1]
        for ly in self.layers:
            h = F.layer_norm(x, (D,), ly["ln1_g"], ly["ln1_b"], 1e-12)
            qkv = F.linear(h, ly["qkv_w"], ly["qkv_b"]).reshape(B, T, 3, H, D // H).permute(2, 0, 3, 1, 4)
            q, k, v = qkv[0], qkv[1], qkv[2]
            a = torch.softmax((q @ k.transpose(-2, -1)) * (D // H) ** -0.5, dim=-1)
            h = (a @ v).transpose(1, 2).reshape(B, T, D)
            x = x + F.linear(h, ly["proj_w"], ly["proj_b"])
            h = F.layer_norm(x, (D,), ly["ln2_g"], ly["ln2_b"], 1e-12)
            x = x + F.linear(F.gelu(F.linear(h, ly["fc1_w"], ly["fc1_b"])), ly["fc2_w"], ly["fc2_b"])
        x = F.layer_norm(x, (D,), self.norm_g, self.norm_b, 1e-12)
        return (F.linear(x[:, 0], self.cls_w, self.cls_b) + F.linear(x[:, 1], self.dist_w, self.dist_b)) / 2


def percentile(xs, p):
    """numpy.percentile's linear interpolation."""
    s = sorted(xs)
    r = p / 100 * (len(s) - 1)
    lo = int(math.floor(r))
    hi = min(lo + 1, len(s) - 1)
    return s[lo] + (r - lo) * (s[hi] - s[lo])


def time_torch(model, batch, warmup, iters, max_time, seed):
    g = torch.Generator().manual_seed(seed)
    x = torch.rand(batch, 3, model.image, model.image, generator=g) * 4.5 - 2
    with torch.inference_mode():
        t0 = time.perf_counter()
        for i in range(warmup):
            if i > 0 and max_time and time.perf_counter() - t0 > max_time / 4:
                break
            model.forward(x)
        lat = []
        t0 = time.perf_counter()
        for i in range(iters):
            if i >= min(3, iters) and max_time and time.perf_counter() - t0 > max_time:
                break
            s = time.perf_counter()
            model.forward(x)
            lat.append((time.perf_counter() - s) * 1e3)
    total = sum(lat) / 1e3
    return {
        "batch": batch, "iters": len(lat),
        "mean_ms": sum(lat) / len(lat), "p50_ms": percentile(lat, 50),
        "p95_ms": percentile(lat, 95), "p99_ms": percentile(lat, 99),
        "img_per_s": batch * len(lat) / total,
        "tflops": batch * len(lat) / total * model.flops / 1e12,
    }


def run_vkdeit(binary, preset, batches, warmup, iters, max_time):
    """Runs `vkdeit bench --cpu --json` and returns its report (or None)."""
    with tempfile.TemporaryDirectory() as d:
        out = os.path.join(d, "vkdeit.json")
        cmd = [binary, "bench", "--config", preset, "--cpu", "--batch", ",".join(map(str, batches)),
               "--warmup", str(warmup), "--iters", str(iters), "--max-time", f"{max_time}s", "--json", out]
        print("running:", " ".join(cmd), file=sys.stderr, flush=True)
        p = subprocess.run(cmd, stdout=subprocess.PIPE, stderr=sys.stderr, text=True)
        if p.returncode != 0:
            print(f"torch_cpu.py: vkdeit bench failed (exit {p.returncode})", file=sys.stderr)
            return None
        print(p.stdout, file=sys.stderr)
        with open(out) as f:
            return json.load(f)


def blas_gflops():
    """GFLOPS of one deit-small fc1-sized fp32 matmul through torch's BLAS."""
    x, w = torch.randn(1584, 384), torch.randn(384, 1536)
    for _ in range(3):
        x @ w
    n, t0 = 10, time.perf_counter()
    for _ in range(n):
        x @ w
    return 2 * 1584 * 384 * 1536 * n / (time.perf_counter() - t0) / 1e9


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--config", default="small-distilled", choices=sorted(PRESETS))
    ap.add_argument("--batch", default="1,8", help="comma-separated batch sizes (default 1,8)")
    ap.add_argument("--threads", type=int, default=2, help="torch.set_num_threads (default 2)")
    ap.add_argument("--warmup", type=int, default=10)
    ap.add_argument("--iters", type=int, default=40)
    ap.add_argument("--max-time", type=float, default=30, help="cap in seconds on timed runs per batch (at least 3 run)")
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--vkdeit", metavar="BINARY", help="also run `BINARY bench --cpu` in the same run and print ratios")
    ap.add_argument("--json", metavar="FILE", help="write the results as JSON")
    a = ap.parse_args()
    if a.iters < 1 or a.warmup < 0:
        ap.error("--iters must be ≥ 1 and --warmup ≥ 0")
    batches = [int(b) for b in a.batch.split(",") if b]
    torch.set_num_threads(a.threads)
    blas = blas_gflops()
    print(f"torch {torch.__version__}, {a.threads} threads, BLAS matmul 1584x384x1536: {blas:.1f} GFLOPS", flush=True)
    if blas < 20:
        print("torch_cpu.py: warning: torch's BLAS is slow here (the reference BLAS?); "
              "apt-get install libopenblas0-pthread for a fair baseline", file=sys.stderr, flush=True)
    torch.manual_seed(a.seed)
    model = DeiT(*PRESETS[a.config], seed=a.seed)
    print(f"torch {torch.__version__}, {torch.get_num_threads()} threads, {platform.machine()}, "
          f"{a.config} random weights, {model.flops / 1e9:.2f} GFLOP/image", flush=True)
    torch_res = []
    for b in batches:
        r = time_torch(model, b, a.warmup, a.iters, a.max_time, a.seed)
        torch_res.append(r)
        print(f"torch batch {b}: {r['iters']} iterations, p50 {r['p50_ms']:.1f} ms, {r['img_per_s']:.2f} img/s", flush=True)

    vk = run_vkdeit(a.vkdeit, a.config, batches, a.warmup, a.iters, a.max_time) if a.vkdeit else None

    print()
    print(f"{'path':<34} {'batch':>5} {'iters':>5} {'p50 ms':>9} {'p95 ms':>9} {'p99 ms':>9} {'img/s':>8} {'TFLOPS':>7}")
    rows = [(f"torch eager fp32 ({a.threads} threads)", r) for r in torch_res]
    vk_by = {}
    if vk:
        for p in vk["paths"]:
            label = "vkdeit " + ("Vulkan " + p["label"].split(" (")[0] if p["path"] == "gpu" else "Go reference")
            for b in p["batches"]:
                lat = b["latency"]
                rows.append((label, {"batch": b["batch"], "iters": lat["n"], "p50_ms": lat["p50_ms"],
                                     "p95_ms": lat["p95_ms"], "p99_ms": lat["p99_ms"],
                                     "img_per_s": b["img_per_s"], "tflops": b["tflops"]}))
                vk_by[(label, b["batch"])] = b["img_per_s"]
    for label, r in rows:
        print(f"{label[:34]:<34} {r['batch']:>5} {r['iters']:>5} {r['p50_ms']:>9.1f} {r['p95_ms']:>9.1f} "
              f"{r['p99_ms']:>9.1f} {r['img_per_s']:>8.2f} {r['tflops']:>7.4f}")
    ratios = []
    if vk_by:
        print("\nthroughput ratio (vkdeit path / torch, same batch; > 1 means vkdeit is faster):")
        for (label, b), ips in sorted(vk_by.items(), key=lambda kv: (kv[0][1], kv[0][0])):
            t = next((r for r in torch_res if r["batch"] == b), None)
            if t:
                ratios.append({"path": label, "batch": b, "ratio": ips / t["img_per_s"]})
                print(f"  batch {b:>3}  {label:<34} {ips / t['img_per_s']:.3f}x")
    if a.json:
        with open(a.json, "w") as f:
            json.dump({"torch": {"version": torch.__version__, "threads": a.threads, "results": torch_res},
                       "vkdeit": vk, "ratios": ratios}, f, indent=2)


if __name__ == "__main__":
    main()
