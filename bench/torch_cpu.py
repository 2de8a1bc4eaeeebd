#!/usr/bin/python3
"""Time PyTorch's CPU forward of a random-weight DeiT next to `vkdeit bench`, at its best.

Builds deit-small-distilled (or another size) from plain torch ops (conv patch
embedding, pre-LayerNorm blocks with exact GELU, [CLS]+[DIST] tokens, two heads
averaged), with random weights, and times it under torch.inference_mode() with
torch.set_num_threads(--threads) at batch 1 and 8 (warm-up + timed iterations,
like `vkdeit bench`), four ways: eager, torch.jit.trace, trace+torch.jit.freeze
and trace+freeze+torch.jit.optimize_for_inference. The timed iterations run in
--rounds rounds that alternate between the variants (the machine is shared).
With --vkdeit it runs `vkdeit bench --device cpu --json` in the same run on the same
machine and prints the throughput ratios vkdeit / torch against every variant
and against the fastest one. Uses Debian's python3-torch (`/usr/bin/python3`);
it is not part of CI.

The BLAS matters most. Debian's torch calls whatever provides libblas.so.3:
the reference BLAS is ~50x slower than OpenBLAS, and of the OpenBLAS builds
libopenblas0-pthread (which wins the alternatives when installed) is ~5x slower
inside torch than libopenblas0-openmp, because its threads fight torch's
OpenMP threads. Install the OpenMP build:

    apt-get install python3-torch libopenblas0-openmp

The script prints which BLAS torch loaded (from /proc/self/maps; OpenBLAS core
and threading through ctypes), torch's build/parallel config, the SGEMM GFLOPS
torch.matmul gets, and which ops run where (profiler + oneDNN verbose). When the
loaded BLAS is not the OpenMP OpenBLAS it re-runs itself with LD_LIBRARY_PATH on
/usr/lib/x86_64-linux-gnu/openblas-openmp if that is installed, or else (pthread
OpenBLAS) with OPENBLAS_NUM_THREADS=1, and says so (--blas as-is turns this off).
bench/torch_blas.py is the stand-alone GEMM probe (OPENBLAS_CORETYPE unset vs set).

    /usr/bin/python3 bench/torch_cpu.py --vkdeit bin/vkdeit
    /usr/bin/python3 bench/torch_cpu.py --batch 1 --iters 10 --json torch.json
    /usr/bin/python3 bench/torch_cpu.py --blas as-is --modes eager    # whatever BLAS loads, no fix
"""

import argparse
import json
import math
import os
import platform
import re
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
        return deit_forward(self, x)


LAYER_KEYS = ("ln1_g", "ln1_b", "qkv_w", "qkv_b", "proj_w", "proj_b", "ln2_g", "ln2_b",
              "fc1_w", "fc1_b", "fc2_w", "fc2_b")
TOP_KEYS = ("patch_w", "patch_b", "special", "pos", "norm_g", "norm_b", "cls_w", "cls_b", "dist_w", "dist_b")


def deit_forward(w, x):
    """The forward pass; w is a DeiT or a DeiTModule (the same weights as attributes)."""
    B = x.shape[0]
    D, H = w.D, w.H
    x = F.conv2d(x, w.patch_w, w.patch_b, stride=w.P).flatten(2).transpose(1, 2)
    x = torch.cat([w.special.expand(B, -1, -1), x], dim=1) + w.pos
    T = x.shape[1]
    for ly in w.layers:
        h = F.layer_norm(x, (D,), ly["ln1_g"], ly["ln1_b"], 1e-12)
        qkv = F.linear(h, ly["qkv_w"], ly["qkv_b"]).reshape(B, T, 3, H, D // H).permute(2, 0, 3, 1, 4)
        q, k, v = qkv[0], qkv[1], qkv[2]
        a = torch.softmax((q @ k.transpose(-2, -1)) * (D // H) ** -0.5, dim=-1)
        h = (a @ v).transpose(1, 2).reshape(B, T, D)
        x = x + F.linear(h, ly["proj_w"], ly["proj_b"])
        h = F.layer_norm(x, (D,), ly["ln2_g"], ly["ln2_b"], 1e-12)
        x = x + F.linear(F.gelu(F.linear(h, ly["fc1_w"], ly["fc1_b"])), ly["fc2_w"], ly["fc2_b"])
    x = F.layer_norm(x, (D,), w.norm_g, w.norm_b, 1e-12)
    return (F.linear(x[:, 0], w.cls_w, w.cls_b) + F.linear(x[:, 1], w.dist_w, w.dist_b)) / 2


class DeiTModule(torch.nn.Module):
    """The same model as an nn.Module (weights as buffers), so torch.jit.trace/freeze/
    optimize_for_inference can see and fold them. Shares the tensors of `m`."""

    def __init__(self, m):
        super().__init__()
        self.D, self.H, self.P, self.image, self.flops = m.D, m.H, m.P, m.image, m.flops
        for k in TOP_KEYS:
            self.register_buffer(k, getattr(m, k))
        self.blocks = torch.nn.ModuleList()
        for ly in m.layers:
            blk = torch.nn.Module()
            for k in LAYER_KEYS:
                blk.register_buffer(k, ly[k])
            self.blocks.append(blk)

    @property
    def layers(self):
        return [{k: getattr(blk, k) for k in LAYER_KEYS} for blk in self.blocks]

    def forward(self, x):
        return deit_forward(self, x)


def percentile(xs, p):
    """numpy.percentile's linear interpolation."""
    s = sorted(xs)
    r = p / 100 * (len(s) - 1)
    lo = int(math.floor(r))
    hi = min(lo + 1, len(s) - 1)
    return s[lo] + (r - lo) * (s[hi] - s[lo])


VARIANTS = {  # mode: label
    "eager": "torch eager fp32",
    "trace": "torch jit.trace fp32",
    "freeze": "torch trace+freeze fp32",
    "ofi": "torch trace+optimize_for_inference",
}


def make_input(model, batch, seed):
    g = torch.Generator().manual_seed(seed)
    return torch.rand(batch, 3, model.image, model.image, generator=g) * 4.5 - 2


def build(mode, module, x):
    """A callable for `mode` specialised (traced) on x; raises when the JIT path fails."""
    if mode == "eager":
        return module
    with torch.no_grad():
        tr = torch.jit.trace(module.eval(), x, check_trace=False)
        if mode == "trace":
            return tr
        fr = torch.jit.freeze(tr)
        if mode == "freeze":
            return fr
        return torch.jit.optimize_for_inference(fr)


def timed(fn, x, warmup, iters, max_time):
    """warm-up then timed forwards under inference_mode; latencies in ms."""
    with torch.inference_mode():
        t0 = time.perf_counter()
        for i in range(warmup):
            if i >= 3 and max_time and time.perf_counter() - t0 > max_time / 4:
                break  # JIT variants need 2–3 passes to profile and optimise: always do 3
            fn(x)
        lat = []
        t0 = time.perf_counter()
        for i in range(iters):
            if i >= min(3, iters) and max_time and time.perf_counter() - t0 > max_time:
                break
            s = time.perf_counter()
            fn(x)
            lat.append((time.perf_counter() - s) * 1e3)
    return lat


def summarize(mode, batch, lat, flops):
    total = sum(lat) / 1e3
    return {
        "mode": mode, "label": VARIANTS[mode], "batch": batch, "iters": len(lat),
        "mean_ms": sum(lat) / len(lat), "p50_ms": percentile(lat, 50),
        "p95_ms": percentile(lat, 95), "p99_ms": percentile(lat, 99),
        "p50_ms_per_img": percentile(lat, 50) / batch,
        "img_per_s": batch * len(lat) / total,
        "tflops": batch * len(lat) / total * flops / 1e12,
    }


class CaptureFD1:
    """Collects what C code (oneDNN's verbose log) writes to file descriptor 1."""

    def __enter__(self):
        sys.stdout.flush()
        self.f = tempfile.TemporaryFile(mode="w+")
        self.saved = os.dup(1)
        os.dup2(self.f.fileno(), 1)
        return self

    def __exit__(self, *exc):
        sys.stdout.flush()
        os.dup2(self.saved, 1)
        os.close(self.saved)
        self.f.seek(0)
        self.text = self.f.read()
        self.f.close()


def inspect_path(fn, x):
    """Which kernels one forward of fn runs: the profiler's top ATen ops, and the oneDNN primitives
    (from oneDNN's verbose log). Matmuls that appear as aten::addmm/bmm/mm and not as oneDNN
    inner_product/matmul primitives went to the BLAS (sgemm_ from libblas.so.3)."""
    res = {"top_ops": [], "onednn": {}, "linear_path": None}
    with torch.inference_mode():
        fn(x)
        try:
            from torch.profiler import ProfilerActivity, profile
            with profile(activities=[ProfilerActivity.CPU]) as prof:
                fn(x)
            ev = sorted(prof.key_averages(), key=lambda e: -e.self_cpu_time_total)
            tot = sum(e.self_cpu_time_total for e in ev) or 1
            res["top_ops"] = [{"op": e.key, "calls": e.count, "self_ms": e.self_cpu_time_total / 1e3,
                               "share": e.self_cpu_time_total / tot} for e in ev[:8]]
        except Exception as e:  # noqa: BLE001 - informational
            res["profiler_error"] = f"{type(e).__name__}: {e}"[:200]
        try:
            with CaptureFD1() as cap, torch.backends.mkldnn.verbose(torch.backends.mkldnn.VERBOSE_ON):
                fn(x)
            for line in cap.text.splitlines():
                m = re.match(r"(?:onednn|dnnl)_verbose,exec,cpu,([^,]+),([^,]+)", line)
                if m:
                    k = f"{m.group(1)}:{m.group(2)}"
                    res["onednn"][k] = res["onednn"].get(k, 0) + 1
        except Exception as e:  # noqa: BLE001 - informational
            res["onednn_error"] = f"{type(e).__name__}: {e}"[:200]
    ops = {o["op"] for o in res["top_ops"]}
    dnnl_mm = [k for k in res["onednn"] if k.startswith(("inner_product", "matmul"))]
    if dnnl_mm:
        res["linear_path"] = "oneDNN (" + ", ".join(dnnl_mm) + ")"
    elif ops & {"aten::addmm", "aten::mm", "aten::bmm", "aten::linear"}:
        res["linear_path"] = "aten::addmm/bmm -> BLAS sgemm (no oneDNN matmul primitive ran)"
    elif any("mkldnn" in o and "linear" in o for o in ops):
        res["linear_path"] = "mkldnn linear"
    return res


def print_inspect(mode, r):
    print(f"  {VARIANTS[mode]}, batch 1: matmuls via {r['linear_path']}")
    if r["top_ops"]:
        print("    top ops by self time: " + ", ".join(
            f"{o['op']} {o['share'] * 100:.0f}% ({o['calls']}x)" for o in r["top_ops"][:6]))
    if r["onednn"]:
        print("    oneDNN primitives: " + ", ".join(f"{k} {n}x" for k, n in sorted(r["onednn"].items())))


def run_vkdeit(binary, preset, devices, batches, warmup, iters, max_time, env):
    """Runs `vkdeit bench --device DEVICES --json` and returns its report (or None)."""
    with tempfile.TemporaryDirectory() as d:
        out = os.path.join(d, "vkdeit.json")
        # vkdeit's --max-time bounds its whole run: give it max_time per (engine, batch), as torch gets.
        total = max_time * len(devices.split(",")) * len(batches)
        cmd = [binary, "bench", "--config", preset, "--device", devices, "--batch", ",".join(map(str, batches)),
               "--warmup", str(warmup), "--iters", str(iters), "--max-time", f"{total}s", "--json", out]
        print("running:", " ".join(cmd), file=sys.stderr, flush=True)
        p = subprocess.run(cmd, stdout=subprocess.PIPE, stderr=sys.stderr, text=True, env=env)
        if p.returncode != 0:
            print(f"torch_cpu.py: vkdeit bench failed (exit {p.returncode})", file=sys.stderr)
            return None
        print(p.stdout, file=sys.stderr)
        with open(out) as f:
            return json.load(f)


def loadavg():
    with open("/proc/loadavg") as f:
        return " ".join(f.read().split()[:3])


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--config", default="small-distilled", choices=sorted(PRESETS))
    ap.add_argument("--batch", default="1,8", help="comma-separated batch sizes (default 1,8)")
    ap.add_argument("--threads", type=int, default=2, help="torch.set_num_threads (default 2)")
    ap.add_argument("--modes", default="eager,trace,freeze,ofi",
                    help="torch variants to time: eager, trace (torch.jit.trace), freeze (+torch.jit.freeze), "
                         "ofi (+torch.jit.optimize_for_inference); default all")
    ap.add_argument("--blas", default="auto", choices=["auto", "openmp", "as-is"],
                    help="auto: re-run on the OpenMP OpenBLAS when torch loaded another BLAS (or mitigate the "
                         "pthread one when the OpenMP build is not installed); openmp: fail without it; "
                         "as-is: time whatever loaded (to see the problem)")
    ap.add_argument("--rounds", type=int, default=3,
                    help="timed iterations are split into this many rounds that alternate between the variants, "
                         "so load from other processes hits them alike (default 3)")
    ap.add_argument("--warmup", type=int, default=10)
    ap.add_argument("--iters", type=int, default=40)
    ap.add_argument("--max-time", type=float, default=30, help="cap in seconds on timed runs per batch and "
                    "variant (at least 3 run)")
    ap.add_argument("--no-probe", action="store_true", help="skip the SGEMM GFLOPS probe and the path inspection")
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--vkdeit", metavar="BINARY", help="also run `BINARY bench` in the same run and print ratios")
    ap.add_argument("--vkdeit-devices", default="cpu", metavar="LIST",
                    help="vkdeit engines to time, as `vkdeit bench --device` takes them (default cpu, the SIMD CPU engine; "
                         "e.g. cpu,gpu,ref adds Vulkan on lavapipe and the float64 reference)")
    ap.add_argument("--json", metavar="FILE", help="write the results as JSON")
    a = ap.parse_args()
    if a.iters < 1 or a.warmup < 0 or a.rounds < 1:
        ap.error("--iters and --rounds must be ≥ 1 and --warmup ≥ 0")
    modes = [m for m in a.modes.split(",") if m]
    bad = [m for m in modes if m not in VARIANTS]
    if bad or not modes:
        ap.error(f"--modes: unknown {bad}; choose from {', '.join(VARIANTS)}")
    batches = [int(b) for b in a.batch.split(",") if b]

    sys.dont_write_bytecode = True
    sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
    import torch_blas
    info = torch_blas.ensure_blas(a.blas)  # may re-execute this script on the OpenMP OpenBLAS
    default_threads = torch.get_num_threads()
    torch.set_num_threads(a.threads)
    cfg = torch_blas.torch_config()
    load0 = loadavg()
    print(f"torch {torch.__version__}, {platform.machine()}, {os.cpu_count()} CPUs, load {load0}; "
          f"torch.set_num_threads({a.threads}) (torch's own default here: {default_threads})")
    print(torch_blas.describe(info, cfg), flush=True)
    busy = float(load0.split()[0])
    if busy > 0.5:
        print(f"torch_cpu.py: note: load average {load0} on {os.cpu_count()} CPUs before starting: other processes "
              f"share the cores, and OpenMP's spinning threads suffer most from that; repeat and compare medians",
              file=sys.stderr, flush=True)
    if info["variant"] != "openmp":
        why = {"pthread": "its threads fight torch's OpenMP threads (measured 5x slower at batch 1)",
               "reference": "the reference BLAS is ~50x slower than OpenBLAS"}.get(
            info["variant"], "torch's baseline is measured on the OpenMP OpenBLAS")
        if info["reexec"] is not None:
            did = "re-ran with " + ", ".join(f"{k}={os.environ.get(k)}" for k in info["reexec"]) + " (a mitigation)"
        elif a.blas == "as-is":
            did = "nothing (--blas as-is)"
        else:
            did = "nothing (libopenblas0-openmp is not installed)"
        print(f"torch_cpu.py: WARNING: torch runs on {info['blas']} [{info['variant']}], not the OpenMP OpenBLAS: "
              f"{why}. This run did {did}; the numbers are not torch at its best. Fix: {torch_blas.INSTALL_HINT}",
              file=sys.stderr, flush=True)
    gemm = []
    if not a.no_probe:
        gemm = torch_blas.probe(threads=sorted({1, a.threads}))
        print(f"SGEMM through torch.matmul (fp32, median of ≥0.5 s), load {loadavg()}:")
        torch_blas.print_gemm(gemm)
        if max(g["gflops_p50"] for g in gemm) < 20:
            print("torch_cpu.py: warning: torch's BLAS is slow here (the reference BLAS?): "
                  + torch_blas.INSTALL_HINT, file=sys.stderr, flush=True)

    torch.manual_seed(a.seed)
    model = DeiT(*PRESETS[a.config], seed=a.seed)
    module = DeiTModule(model).eval()
    print(f"{a.config}, random weights (plain torch ops, bench/torch_cpu.py), {model.flops / 1e9:.2f} GFLOP/image; "
          f"modes {', '.join(modes)}; {a.warmup} warm-up + {a.iters} timed runs per batch and mode in "
          f"{a.rounds} alternating rounds", flush=True)

    fns, notes, checks = {}, [], []
    inputs = {b: make_input(model, b, a.seed) for b in batches}
    with torch.inference_mode():
        ref = {b: model.forward(inputs[b]) for b in batches}
    for m in modes:
        for b in batches:
            try:
                fn = build(m, module, inputs[b])
                with torch.inference_mode():
                    for _ in range(3):  # the JIT profiles on the first passes; the check runs the optimised graph
                        y = fn(inputs[b])
                err = (y - ref[b]).abs().max().item()
                rel = ((y - ref[b]).norm() / ref[b].norm()).item()
                checks.append({"mode": m, "batch": b, "max_abs": err, "rel_l2": rel})
                if rel > 1e-4:
                    raise RuntimeError(f"output differs from eager: rel L2 {rel:.2e}")
                fns[(m, b)] = fn
            except Exception as e:  # noqa: BLE001 - a JIT path failing is a result, not a crash
                notes.append(f"{m} batch {b} skipped: {type(e).__name__}: {str(e).splitlines()[0][:200]}")
                print("torch_cpu.py: " + notes[-1], file=sys.stderr, flush=True)
    if checks:
        print("outputs vs eager: " + ", ".join(f"{c['mode']}/b{c['batch']} rel L2 {c['rel_l2']:.1e}"
                                               for c in checks if c["mode"] != "eager"))

    inspect = {}
    if not a.no_probe and 1 in batches:
        print("kernel paths (profiler + oneDNN verbose, one forward):")
        for m in ("eager", "ofi"):
            if (m, 1) in fns:
                inspect[m] = inspect_path(fns[(m, 1)], inputs[1])
                print_inspect(m, inspect[m])

    lat = {k: [] for k in fns}
    per_round = max(1, math.ceil(a.iters / a.rounds))
    for r in range(a.rounds):
        for b in batches:
            for m in modes:
                if (m, b) not in fns:
                    continue
                left = a.iters - len(lat[(m, b)])
                if left <= 0:
                    continue
                warm = a.warmup if r == 0 else min(2, a.warmup)
                lat[(m, b)] += timed(fns[(m, b)], inputs[b], warm, min(per_round, left),
                                     a.max_time / a.rounds if a.max_time else 0)
        print(f"  round {r + 1}/{a.rounds} done, load {loadavg()}", file=sys.stderr, flush=True)
    torch_res = [summarize(m, b, lat[(m, b)], model.flops) for b in batches for m in modes if (m, b) in lat]
    load1 = loadavg()
    for r in torch_res:
        print(f"{r['label']} batch {r['batch']}: {r['iters']} runs, p50 {r['p50_ms']:.1f} ms "
              f"({r['p50_ms_per_img']:.1f} ms/img), p95 {r['p95_ms']:.1f} ms, {r['img_per_s']:.2f} img/s", flush=True)
    print(f"load after torch: {load1}")

    vk = None
    if a.vkdeit:
        vk = run_vkdeit(a.vkdeit, a.config, a.vkdeit_devices, batches, a.warmup, a.iters, a.max_time,
                        torch_blas.original_env())

    blas_tag = f"{os.path.basename(os.path.dirname(info['blas'] or '?'))}"
    print()
    print(f"torch {torch.__version__}, {a.threads} threads, BLAS {blas_tag} ({info.get('corename')}), "
          f"load {load0} -> {loadavg()}")
    print(f"{'path':<36} {'batch':>5} {'iters':>5} {'p50 ms':>9} {'ms/img':>8} {'p95 ms':>9} {'img/s':>8} {'TFLOPS':>7}")
    rows = [(r["label"], r) for r in torch_res]
    vk_by = {}
    if vk:
        for p in vk["paths"]:
            label = f"vkdeit {p['path']}: {p['label']}"
            for bres in p["batches"]:
                lt = bres["latency"]
                rows.append((label, {"batch": bres["batch"], "iters": lt["n"], "p50_ms": lt["p50_ms"],
                                     "p50_ms_per_img": lt["p50_ms"] / bres["batch"], "p95_ms": lt["p95_ms"],
                                     "img_per_s": bres["img_per_s"], "tflops": bres["tflops"]}))
                vk_by[(label, bres["batch"])] = bres["img_per_s"]
    for label, r in rows:
        print(f"{label[:36]:<36} {r['batch']:>5} {r['iters']:>5} {r['p50_ms']:>9.1f} {r['p50_ms_per_img']:>8.1f} "
              f"{r['p95_ms']:>9.1f} {r['img_per_s']:>8.2f} {r['tflops']:>7.4f}")
    ratios = []
    if vk_by:
        tm = [m for m in modes if any(r["mode"] == m for r in torch_res)]
        vk_rows = {(label, r["batch"]): r for label, r in rows if label.startswith("vkdeit")}
        head = f"  {'batch':>5}  {'vkdeit path':<30} " + " ".join(f"{'/ ' + m:>9}" for m in tm) + f" {'/ best torch':>13}"
        for by, title in (("p50", "vkdeit / torch speed by p50 latency per image (torch p50 ms/img over vkdeit p50 "
                                  "ms/img, same batch; > 1 means vkdeit is faster; the medians resist load spikes):"),
                          ("img/s", "the same by throughput (img/s over img/s; img/s = images over the summed "
                                    "latencies, as vkdeit bench defines it, so load spikes weigh in):")):
            print("\n" + title + "\n" + head)
            for (label, b), v in sorted(vk_rows.items(), key=lambda kv: (kv[0][1], kv[0][0])):
                ts = {r["mode"]: r for r in torch_res if r["batch"] == b}
                if not ts:
                    continue
                if by == "p50":
                    val = {m: ts[m]["p50_ms_per_img"] / v["p50_ms_per_img"] for m in ts}
                else:
                    val = {m: v["img_per_s"] / ts[m]["img_per_s"] for m in ts}
                best = min(val, key=val.get)  # the fastest torch variant gives vkdeit its lowest ratio
                ratios += [{"path": label, "batch": b, "torch_mode": m, "by": by, "ratio": val[m]} for m in val]
                ratios.append({"path": label, "batch": b, "torch_mode": "best:" + best, "by": by, "ratio": val[best]})
                print(f"  {b:>5}  {label[:30]:<30} " + " ".join(f"{val[m]:>8.3f}x" if m in val else f"{'-':>9}"
                                                                for m in tm)
                      + f" {val[best]:>8.3f}x ({best})")
    spiky = [r for r in torch_res if r["p95_ms"] > 1.5 * r["p50_ms"]]
    if spiky:
        notes.append("torch timings disturbed by other load (p95 > 1.5x p50 for "
                     + ", ".join(f"{r['mode']}/b{r['batch']}" for r in spiky)
                     + "): trust the p50 ratios, not the img/s ones, or rerun on a quieter machine")
    for n in notes:
        print("note: " + n)
    if a.json:
        with open(a.json, "w") as f:
            json.dump({"torch": {"version": torch.__version__, "threads": a.threads, "default_threads": default_threads,
                                 "blas": info, "config": cfg, "gemm": gemm, "inspect": inspect, "checks": checks,
                                 "load_before": load0, "load_after_torch": load1, "rounds": a.rounds,
                                 "results": torch_res, "notes": notes},
                       "vkdeit": vk, "ratios": ratios, "load_end": loadavg()}, f, indent=2)


if __name__ == "__main__":
    main()
