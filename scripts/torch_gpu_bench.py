#!/usr/bin/env python3
"""Time PyTorch on the same device as `vkdeit bench`, and print the comparison.

Two modes:

  bench (default): builds a random-weight deit-small-distilled
  (transformers' DeiTForImageClassificationWithTeacher when transformers is
  installed, else the plain-torch model of bench/torch_cpu.py) and times, per
  batch size, the wall clock from a CPU input tensor to logits back on the CPU
  (the same submit→logits span `vkdeit bench` measures) for each --modes entry:
  eager (fp32), amp (bf16 autocast) and compile (torch.compile, skipped on
  error or when it exceeds --compile-budget seconds). Results are written to
  --json after every measurement, so a time-boxed run keeps what it finished.

  --summary: reads `vkdeit bench --json` output and any number of torch JSON
  files and prints the vkdeit-vs-torch table (needs no torch); with
  --vkdeit-gobench also vkdeit at every precision (fp32, fp16,
  fp16+coopmat, from BenchmarkEnginePrecision), the matmul GFLOPS per path
  (BenchmarkMatmulPrecision) and the fp16/coopmat goals.

    python3 scripts/torch_gpu_bench.py --batch 1,8,64,256 --modes eager,amp --json out/torch.json
    python3 scripts/torch_gpu_bench.py --summary --vkdeit-json out/vkdeit.json out/torch*.json
"""

import argparse
import json
import math
import os
import sys
import time

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
SHAPES = {"small-distilled": (384, 12, 6, 1536), "tiny-distilled": (192, 12, 3, 768), "micro": (64, 2, 2, 256)}


def percentile(xs, p):
    s = sorted(xs)
    r = p / 100 * (len(s) - 1)
    lo = int(math.floor(r))
    hi = min(lo + 1, len(s) - 1)
    return s[lo] + (r - lo) * (s[hi] - s[lo])


def build_model(shape, device):
    import torch
    D, L, H, M = SHAPES[shape]
    try:
        from transformers import DeiTConfig, DeiTForImageClassificationWithTeacher
        cfg = DeiTConfig(hidden_size=D, num_hidden_layers=L, num_attention_heads=H, intermediate_size=M,
                         image_size=224, patch_size=16, num_labels=1000)
        torch.manual_seed(0)
        m = DeiTForImageClassificationWithTeacher(cfg).eval().to(device)
        impl = getattr(m.config, "_attn_implementation", "?")
        return (lambda x: m(pixel_values=x).logits), m, f"transformers DeiTForImageClassificationWithTeacher (attn {impl})"
    except ImportError:
        sys.path.insert(0, os.path.join(REPO, "bench"))
        from torch_cpu import DeiT
        m = DeiT(D, L, H, M)
        for k, v in list(vars(m).items()):
            if torch.is_tensor(v):
                setattr(m, k, v.to(device))
        for ly in m.layers:
            for k in ly:
                ly[k] = ly[k].to(device)
        return m.forward, None, "plain-torch DeiT (bench/torch_cpu.py; no transformers)"


def measure(fn, x_cpu, device, warmup, iters, max_time, sync):
    import torch
    lat = []
    with torch.inference_mode():
        t0 = time.perf_counter()
        for i in range(warmup):
            if i > 0 and max_time and time.perf_counter() - t0 > max_time / 4:
                break
            fn(x_cpu.to(device)).float().cpu()
        sync()
        t0 = time.perf_counter()
        for i in range(iters):
            if i >= min(3, iters) and max_time and time.perf_counter() - t0 > max_time:
                break
            s = time.perf_counter()
            fn(x_cpu.to(device, non_blocking=False)).float().cpu()  # .cpu() waits for the result
            lat.append((time.perf_counter() - s) * 1e3)
    return lat


def bench(a):
    import torch
    device = "cuda" if torch.cuda.is_available() else "cpu"
    if device == "cpu" and not a.allow_cpu:
        print("torch_gpu_bench.py: no CUDA device (use --allow-cpu to run the plumbing on the CPU)", file=sys.stderr)
        return 2
    sync = torch.cuda.synchronize if device == "cuda" else (lambda: None)
    name = torch.cuda.get_device_name(0) if device == "cuda" else "cpu"
    fn, module, what = build_model(a.shape, device)
    batches = [int(b) for b in a.batch.split(",") if b]
    try:
        tf32 = bool(torch.backends.cuda.matmul.allow_tf32) if device == "cuda" else False
    except Exception:  # noqa: BLE001 - the flag moved in newer torch; informational only
        tf32 = None
    res = {"torch": torch.__version__, "device": name, "model": what, "shape": a.shape,
           "tf32_matmul": tf32,
           "warmup": a.warmup, "iters": a.iters, "results": [], "notes": []}
    print(f"torch {torch.__version__} on {name}: {what}", flush=True)

    def save():
        if a.json:
            with open(a.json, "w") as f:
                json.dump(res, f, indent=2)

    start = time.perf_counter()
    for mode in [m for m in a.modes.split(",") if m]:
        run = fn
        if mode == "amp":
            dt = torch.bfloat16

            def run(x, _fn=fn, _dt=dt):
                with torch.autocast(device_type=device, dtype=_dt):
                    return _fn(x)
        elif mode == "compile":
            if not hasattr(torch, "compile"):
                res["notes"].append(f"compile skipped: torch {torch.__version__} has no torch.compile")
                print(res["notes"][-1], flush=True)
                save()
                continue
            try:
                if module is not None:
                    cm = torch.compile(module, dynamic=False)
                    run = (lambda x, _m=cm: _m(pixel_values=x).logits)
                else:
                    run = torch.compile(fn, dynamic=False)
            except Exception as e:  # noqa: BLE001
                res["notes"].append(f"compile skipped: {type(e).__name__}: {e}"[:300])
                save()
                continue
        elif mode != "eager":
            print(f"torch_gpu_bench.py: unknown mode {mode!r}", file=sys.stderr)
            return 2
        for b in batches:
            if mode == "compile" and time.perf_counter() - start > a.compile_budget:
                res["notes"].append(f"compile batch {b} skipped: over the {a.compile_budget:g}s budget")
                print(res["notes"][-1], flush=True)
                break
            g = torch.Generator().manual_seed(b)
            x = torch.rand(b, 3, 224, 224, generator=g) * 4.5 - 2
            t0 = time.perf_counter()
            try:
                lat = measure(run, x, device, a.warmup, a.iters, a.max_time, sync)
            except Exception as e:  # noqa: BLE001 - OOM, compile failure: note it, go on
                res["notes"].append(f"{mode} batch {b} failed: {type(e).__name__}: {str(e)[:200]}")
                print(res["notes"][-1], flush=True)
                if device == "cuda":
                    torch.cuda.empty_cache()
                if mode == "compile":
                    break
                continue
            total = sum(lat) / 1e3
            r = {"mode": mode, "batch": b, "iters": len(lat), "p50_ms": percentile(lat, 50),
                 "p95_ms": percentile(lat, 95), "p99_ms": percentile(lat, 99), "mean_ms": sum(lat) / len(lat),
                 "img_per_s": b * len(lat) / total, "seconds": time.perf_counter() - t0}
            res["results"].append(r)
            print(f"torch {mode:<7} batch {b:>4}: p50 {r['p50_ms']:8.3f} ms  {r['img_per_s']:10.1f} img/s  "
                  f"({r['iters']} iters, {r['seconds']:.1f}s)", flush=True)
            save()
    save()
    return 0


def parse_gobench(path):
    """Reads `go test -bench EnginePrecision|MatmulPrecision` output: engine
    img/s and ms per forward by (kernels, batch), and matmul GFLOPS by
    (path, shape)."""
    engine, matmul = {}, {}
    with open(path) as f:
        for line in f:
            parts = line.split()
            if not parts or not parts[0].startswith("Benchmark"):
                continue
            name = parts[0].rsplit("-", 1)[0]  # drop the -GOMAXPROCS suffix
            fields = name.split("/")
            metrics = {parts[i + 1]: float(parts[i]) for i in range(2, len(parts) - 1)
                       if parts[i + 1] in ("ns/op", "img/s", "GFLOPS")}
            if fields[0] == "BenchmarkEnginePrecision" and len(fields) in (3, 4) and "img/s" in metrics:
                # B<batch>/<kernels>[/stream]: ms is per batch, from img/s.
                kernels = fields[2] + (" stream" if len(fields) == 4 else "")
                b = int(fields[1][1:])
                engine[(kernels, b)] = {"img_per_s": metrics["img/s"], "ms": b / metrics["img/s"] * 1e3}
            elif fields[0] == "BenchmarkMatmulPrecision" and len(fields) == 3 and "GFLOPS" in metrics:
                matmul[(fields[1], fields[2])] = metrics["GFLOPS"]
            elif fields[0] == "BenchmarkMatmulCoopMatTiles" and len(fields) == 3 and "GFLOPS" in metrics:
                matmul[("coopmat " + fields[2], fields[1])] = metrics["GFLOPS"]
    return engine, matmul


def precision_summary(a, torch_by, modes):
    """Prints vkdeit at every precision against every torch mode, and the
    goals of the fp16/coopmat issue; returns rows for the JSON summary."""
    engine, matmul = parse_gobench(a.vkdeit_gobench)
    kernels = sorted({k for k, _ in engine}, key=lambda k: (k != "fp32", k != "fp16", k))
    if not kernels:
        print("precision benchmark: no results")
        return [], {}
    print()
    print("vkdeit by precision (BenchmarkEnginePrecision, ms per forward wall clock) vs torch:")
    hdr = f"{'batch':>5}"
    for k in kernels:
        hdr += f"  {k[:22]:>22} {'ms':>8}"
    for m in modes:
        hdr += f"  {'torch ' + m:>14}"
    hdr += f"  {'best vk / amp':>13}"
    print(hdr)
    rows = []
    for b in sorted({b for _, b in engine}):
        line, row, best = f"{b:>5}", {"batch": b}, 0
        for k in kernels:
            r = engine.get((k, b))
            line += f"  {r['img_per_s']:>22.1f} {r['ms']:>8.3f}" if r else f"  {'-':>22} {'-':>8}"
            if r:
                row[f"vkdeit_{k}_img_per_s"], row[f"vkdeit_{k}_ms"] = r["img_per_s"], r["ms"]
                best = max(best, r["img_per_s"])
        for m in modes:
            t = torch_by.get((m, b))
            line += f"  {t['img_per_s']:>14.1f}" if t else f"  {'-':>14}"
        amp = torch_by.get(("amp", b))
        ratio = best / amp["img_per_s"] if amp and best else None
        line += f"  {ratio:>13.2f}" if ratio else f"  {'-':>13}"
        row["best_vkdeit_over_torch_amp"] = ratio
        print(line)
        rows.append(row)
    goals = {}
    best_of = lambda b: max([r["img_per_s"] for (k, bb), r in engine.items() if bb == b] or [0])
    amp256 = torch_by.get(("amp", 256))
    if amp256 and best_of(256):
        goals["batch256_over_amp"] = best_of(256) / amp256["img_per_s"]
        print(f"goal batch 256 >= 1.5x torch bf16 AMP: {goals['batch256_over_amp']:.2f}x "
              f"({'met' if goals['batch256_over_amp'] >= 1.5 else 'NOT met'})")
    b1 = [r["ms"] for (k, b), r in engine.items() if b == 1 and not k.endswith(" stream")]  # latency: Forward
    if b1:
        goals["batch1_ms"] = min(b1)
        print(f"goal batch 1 <= 1.0 ms: {goals['batch1_ms']:.3f} ms ({'met' if goals['batch1_ms'] <= 1.0 else 'NOT met'})")
    coop = {shape: g for (path, shape), g in matmul.items() if "coopmat" in path}
    if matmul:
        print("matmul GFLOPS by path (BenchmarkMatmulPrecision):")
        for (path, shape), g in sorted(matmul.items(), key=lambda x: (x[0][1], x[0][0])):
            print(f"  {shape:<20} {path:<26} {g:>10.0f}")
    if coop:
        goals["coopmat_matmul_tflops"] = max(coop.values()) / 1e3
        print(f"goal coopmat matmul >= 300 TFLOPS: {goals['coopmat_matmul_tflops']:.1f} TFLOPS "
              f"({'met' if goals['coopmat_matmul_tflops'] >= 300 else 'NOT met'})")
    return rows, goals


def summary(a):
    with open(a.vkdeit_json) as f:
        vk = json.load(f)
    vk_by = {}
    for p in vk.get("paths", []):
        if p["path"] == "gpu":
            for b in p["batches"]:
                vk_by[b["batch"]] = b
    torch_by = {}
    modes = []
    notes = []
    tdev = ""
    for path in a.files:
        try:
            with open(path) as f:
                t = json.load(f)
        except (OSError, ValueError) as e:
            notes.append(f"{path}: {e}")
            continue
        tdev = t.get("device", tdev)
        notes += t.get("notes", [])
        for r in t.get("results", []):
            torch_by[(r["mode"], r["batch"])] = r
            if r["mode"] not in modes:
                modes.append(r["mode"])
    dev = vk.get("device", {}) or {}
    print(f"vkdeit on {dev.get('name', '?')} ({dev.get('driver', '?')}) vs torch on {tdev}, "
          f"{vk.get('model', '')}, {vk.get('gflop_per_image', 0):.2f} GFLOP/image")
    hdr = f"{'batch':>5}  {'vkdeit img/s':>12} {'p50 ms':>8}"
    for m in modes:
        hdr += f"  {'torch ' + m:>14} {'p50 ms':>8} {'vk/torch':>8}"
    print(hdr)
    rows = []
    for b in sorted(set(vk_by) | {k[1] for k in torch_by}):
        v = vk_by.get(b)
        line = f"{b:>5}  " + (f"{v['img_per_s']:>12.1f} {v['latency']['p50_ms']:>8.3f}" if v else f"{'-':>12} {'-':>8}")
        row = {"batch": b, "vkdeit_img_per_s": v["img_per_s"] if v else None,
               "vkdeit_p50_ms": v["latency"]["p50_ms"] if v else None}
        for m in modes:
            t = torch_by.get((m, b))
            if t:
                ratio = v["img_per_s"] / t["img_per_s"] if v else None
                line += f"  {t['img_per_s']:>14.1f} {t['p50_ms']:>8.3f} " + (f"{ratio:>8.3f}" if ratio else f"{'-':>8}")
                row[f"torch_{m}_img_per_s"] = t["img_per_s"]
                row[f"torch_{m}_p50_ms"] = t["p50_ms"]
                row[f"vkdeit_over_torch_{m}"] = ratio
            else:
                line += f"  {'-':>14} {'-':>8} {'-':>8}"
        print(line)
        rows.append(row)
    print("vk/torch > 1 means vkdeit is faster (throughput at the same batch size).")
    prec_rows, goals = [], {}
    if a.vkdeit_gobench and os.path.exists(a.vkdeit_gobench):
        prec_rows, goals = precision_summary(a, torch_by, modes)
    for n in notes:
        print("note:", n)
    if a.json:
        with open(a.json, "w") as f:
            json.dump({"rows": rows, "precision_rows": prec_rows, "goals": goals, "notes": notes,
                       "vkdeit_device": dev, "torch_device": tdev}, f, indent=2)
    return 0


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--summary", action="store_true", help="print the comparison table from JSON files")
    ap.add_argument("--vkdeit-json", help="vkdeit bench --json output (with --summary)")
    ap.add_argument("--vkdeit-gobench", help="go test -bench 'EnginePrecision|MatmulPrecision' output (with --summary)")
    ap.add_argument("files", nargs="*", help="torch JSON files (with --summary)")
    ap.add_argument("--batch", default="1,8,64,256")
    ap.add_argument("--modes", default="eager,amp,compile")
    ap.add_argument("--shape", default="small-distilled", choices=sorted(SHAPES))
    ap.add_argument("--warmup", type=int, default=10)
    ap.add_argument("--iters", type=int, default=40)
    ap.add_argument("--max-time", type=float, default=15, help="cap in seconds on timed runs per batch (at least 3 run)")
    ap.add_argument("--compile-budget", type=float, default=90, help="seconds after which compile batches are skipped")
    ap.add_argument("--allow-cpu", action="store_true", help="run on the CPU when there is no CUDA device")
    ap.add_argument("--json", metavar="FILE")
    a = ap.parse_args()
    if a.summary:
        if not a.vkdeit_json:
            ap.error("--summary needs --vkdeit-json")
        return summary(a)
    try:
        import torch  # noqa: F401
    except ImportError:
        print("torch_gpu_bench.py: torch is not installed", file=sys.stderr)
        return 2
    return bench(a)


if __name__ == "__main__":
    sys.exit(main())
