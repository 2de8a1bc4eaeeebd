#!/usr/bin/python3
"""The CPU baselines in one run: vkdeit fp32 and bf16 against PyTorch at its best and ONNX Runtime.

Builds deit-small-distilled (or another preset of torch_cpu.py) with random weights in plain
torch ops, writes it as a Hugging Face DeiT directory (config.json, model.safetensors) that
vkdeit loads, exports it to ONNX (torch.onnx.export, dynamic batch), and times, per batch
size, in --rounds rounds that alternate between the peers (the order rotates each round):

  vkdeit fp32, vkdeit bf16   the CPU engine through `go test ./engine -bench BenchmarkCPUModel`
                             (a test binary built once), GOMAXPROCS = --threads
  torch eager, torch trace   fp32; torch.set_num_threads(--threads), inference_mode
  torch bf16                 eager under torch.autocast("cpu", dtype=torch.bfloat16) (oneDNN)
  ort                        ONNX Runtime's CPU execution provider through the onnxruntime-node
                             npm package: all graph optimizations, --threads intra-op threads

Before timing, every peer's logits on the same input are checked against the float64 PyTorch
forward (relative L2 ≤ 1e-4 for fp32 peers, ≤ 1.5e-2 for bf16 ones, the engine tests' bounds);
a peer that fails is reported and not timed. It prints each peer's median ms per image (the
median over every timed forward of every round) and the ratios vkdeit / peer (> 1: vkdeit is
faster). Medians resist the load of a shared machine; rerun on a quiet one (with --spin) for
final numbers.

PyTorch runs its best BLAS: the OpenMP OpenBLAS (Debian libopenblas0-openmp) with
OPENBLAS_CORETYPE unset, so that its AVX-512 kernels run (the script says when it was preset
and unsets it for the whole run). Install (Debian; npm into a scratch directory):

    apt-get install -y python3-torch python3-numpy libopenblas0-openmp
    (mkdir -p /tmp/ortnode && cd /tmp/ortnode && npm install --ignore-scripts onnxruntime-node)
    /usr/bin/python3 bench/cpu_baselines.py --ort-node /tmp/ortnode --json cpu.json

(--ignore-scripts skips onnxruntime-node's download of the CUDA provider; the CPU one ships
in the package.)
"""

import os

PRESET_CORETYPE = os.environ.pop("OPENBLAS_CORETYPE", None)  # before torch loads OpenBLAS
# Idle worker threads sleep instead of spinning unless --spin (or the caller set
# OMP_WAIT_POLICY): on a machine shared with other jobs a spinning OpenMP team steals the
# cores its own stragglers need (PyTorch measured 15x slower so, on 2 loaded cores).
SPIN = "--spin" in os.sys.argv
if not SPIN:
    os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

import argparse
import json
import platform
import statistics
import struct
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
from torch_cpu import PRESETS, DeiT, DeiTModule, make_input, loadavg  # noqa: E402
import torch_blas  # noqa: E402

BLAS = torch_blas.ensure_blas("auto")  # may re-execute this script on the OpenMP OpenBLAS

import torch  # noqa: E402

REPO = os.path.dirname(HERE)


def save_hf(m, hidden, layers, heads, mlp, labels, out):
    """Writes m as a Hugging Face DeiTForImageClassificationWithTeacher directory."""
    D = hidden
    t = {
        "deit.embeddings.cls_token": m.special[:, :1],
        "deit.embeddings.distillation_token": m.special[:, 1:2],
        "deit.embeddings.position_embeddings": m.pos,
        "deit.embeddings.patch_embeddings.projection.weight": m.patch_w,
        "deit.embeddings.patch_embeddings.projection.bias": m.patch_b,
        "deit.layernorm.weight": m.norm_g, "deit.layernorm.bias": m.norm_b,
        "cls_classifier.weight": m.cls_w, "cls_classifier.bias": m.cls_b,
        "distillation_classifier.weight": m.dist_w, "distillation_classifier.bias": m.dist_b,
    }
    for i, ly in enumerate(m.layers):
        p = f"deit.encoder.layer.{i}."
        for j, name in enumerate(("query", "key", "value")):
            t[p + f"attention.attention.{name}.weight"] = ly["qkv_w"][j * D:(j + 1) * D]
            t[p + f"attention.attention.{name}.bias"] = ly["qkv_b"][j * D:(j + 1) * D]
        t[p + "attention.output.dense.weight"], t[p + "attention.output.dense.bias"] = ly["proj_w"], ly["proj_b"]
        t[p + "layernorm_before.weight"], t[p + "layernorm_before.bias"] = ly["ln1_g"], ly["ln1_b"]
        t[p + "layernorm_after.weight"], t[p + "layernorm_after.bias"] = ly["ln2_g"], ly["ln2_b"]
        t[p + "intermediate.dense.weight"], t[p + "intermediate.dense.bias"] = ly["fc1_w"], ly["fc1_b"]
        t[p + "output.dense.weight"], t[p + "output.dense.bias"] = ly["fc2_w"], ly["fc2_b"]
    header, blobs, off = {}, [], 0
    for k, v in t.items():
        b = v.detach().contiguous().to(torch.float32).numpy().tobytes()
        header[k] = {"dtype": "F32", "shape": list(v.shape), "data_offsets": [off, off + len(b)]}
        blobs.append(b)
        off += len(b)
    h = json.dumps(header).encode()
    h += b" " * (-len(h) % 8)
    os.makedirs(out, exist_ok=True)
    with open(os.path.join(out, "model.safetensors"), "wb") as f:
        f.write(struct.pack("<Q", len(h)) + h + b"".join(blobs))
    cfg = {"architectures": ["DeiTForImageClassificationWithTeacher"], "model_type": "deit",
           "hidden_size": D, "num_hidden_layers": layers, "num_attention_heads": heads,
           "intermediate_size": mlp, "image_size": m.image, "patch_size": m.P, "num_channels": 3,
           "layer_norm_eps": 1e-12, "hidden_act": "gelu",
           "id2label": {str(i): f"LABEL_{i}" for i in range(labels)}}
    with open(os.path.join(out, "config.json"), "w") as f:
        json.dump(cfg, f)


ORT_JS = r"""
const ort = require('onnxruntime-node');
const fs = require('fs');
const [model, pixels, B, C, H, W, threads, warmup, iters, spin, logitsOut] = process.argv.slice(2);
(async () => {
  const s = await ort.InferenceSession.create(model, {executionProviders: ['cpu'],
    graphOptimizationLevel: 'all', intraOpNumThreads: +threads, interOpNumThreads: 1,
    extra: {session: {intra_op: {allow_spinning: spin}}}});
  const buf = fs.readFileSync(pixels);
  const x = new ort.Tensor('float32', new Float32Array(buf.buffer, buf.byteOffset, buf.length / 4), [+B, +C, +H, +W]);
  const feeds = {pixels: x};
  let out;
  for (let i = 0; i < +warmup; i++) out = await s.run(feeds);
  const lat = [];
  for (let i = 0; i < +iters; i++) {
    const t0 = process.hrtime.bigint();
    out = await s.run(feeds);
    lat.push(Number(process.hrtime.bigint() - t0) / 1e6);
  }
  if (logitsOut) fs.writeFileSync(logitsOut, Buffer.from(out.logits.data.buffer));
  console.log(JSON.stringify({lat}));
})().catch(e => { console.error(e); process.exit(1); });
"""


def rel_l2(got, want):
    d = (got.double() - want).flatten()
    return float(d.norm() / want.flatten().norm())


def read_f32(path, shape):
    with open(path, "rb") as f:
        return torch.frombuffer(bytearray(f.read()), dtype=torch.float32).reshape(shape)


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--config", default="small-distilled", choices=sorted(PRESETS))
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--batch", default="1,8", help="comma-separated batch sizes")
    ap.add_argument("--rounds", type=int, default=5)
    ap.add_argument("--iters", type=int, default=8, help="timed forwards per peer and round at batch 1 (÷ batch/2 above)")
    ap.add_argument("--warmup", type=int, default=3)
    ap.add_argument("--ort-node", metavar="DIR", help="directory whose node_modules has onnxruntime-node (skip ORT without it)")
    ap.add_argument("--peers", default="vkdeit-fp32,vkdeit-bf16,torch-eager,torch-trace,torch-bf16,ort")
    ap.add_argument("--spin", action="store_true",
                    help="let PyTorch's OpenMP and ORT's intra-op threads spin while idle (their defaults; best on a "
                         "quiet machine). Without it they sleep (OMP_WAIT_POLICY=PASSIVE, allow_spinning=0), their "
                         "best on a shared one")
    ap.add_argument("--json", metavar="FILE")
    a = ap.parse_args()
    peers = a.peers.split(",")
    torch.set_num_threads(a.threads)
    hidden, layers, heads, mlp = PRESETS[a.config]
    torch.manual_seed(0)
    model = DeiT(hidden, layers, heads, mlp)
    module = DeiTModule(model).eval()
    work = tempfile.mkdtemp(prefix="vkdeit-baselines-")
    save_hf(model, hidden, layers, heads, mlp, 1000, os.path.join(work, "model"))
    cpuname = next((l.split(":", 1)[1].strip() for l in open("/proc/cpuinfo") if l.startswith("model name")), platform.processor())
    flags = set(next((l.split(":", 1)[1].split() for l in open("/proc/cpuinfo") if l.startswith("flags")), []))
    print(f"CPU: {cpuname}; {os.cpu_count()} CPUs; avx512f={'avx512f' in flags} avx512_bf16={'avx512_bf16' in flags} "
          f"amx_bf16={'amx_bf16' in flags}; threads {a.threads}; load {loadavg()}")
    print(f"idle threads: {'spin (--spin)' if a.spin else 'sleep'}; OMP_WAIT_POLICY={os.environ.get('OMP_WAIT_POLICY', '')}")
    print(f"OPENBLAS_CORETYPE: {'was preset to ' + PRESET_CORETYPE + ', unset for this run' if PRESET_CORETYPE else 'not set'}; "
          f"torch {torch.__version__}")
    print(torch_blas.describe(BLAS, torch_blas.torch_config()))
    test_bin = os.path.join(work, "engine.test")
    if any(p.startswith("vkdeit") for p in peers):
        subprocess.run(["go", "test", "-c", "-o", test_bin, "./engine"], cwd=REPO, check=True)
    onnx_path = os.path.join(work, "model.onnx")
    if "ort" in peers:
        if not a.ort_node:
            print("ort: no --ort-node directory; ONNX Runtime skipped")
            peers.remove("ort")
        else:
            x = make_input(model, 1, 1)
            torch.onnx.export(module, x, onnx_path, input_names=["pixels"], output_names=["logits"],
                              dynamic_axes={"pixels": {0: "B"}, "logits": {0: "B"}}, opset_version=14)
            with open(os.path.join(work, "ort.js"), "w") as f:
                f.write(ORT_JS)
            ver = json.load(open(os.path.join(a.ort_node, "node_modules", "onnxruntime-node", "package.json")))["version"]
            print(f"ONNX Runtime {ver} (onnxruntime-node), CPU EP, all graph optimizations, {a.threads} intra-op threads")

    def vkdeit(prec, px_file, B, iters, logits_out=""):
        env = dict(os.environ, GOMAXPROCS=str(a.threads), VKDEIT_BENCH_MODEL=os.path.join(work, "model"),
                   VKDEIT_BENCH_PIXELS=px_file, VKDEIT_BENCH_BATCH=str(B), VKDEIT_BENCH_PRECISION=prec,
                   VKDEIT_BENCH_THREADS=str(a.threads), VKDEIT_BENCH_LOGITS=logits_out)
        p = subprocess.run([test_bin, "-test.run", "^$", "-test.bench", "^BenchmarkCPUModel$",
                            "-test.benchtime", f"{iters}x", "-test.v"], env=env, capture_output=True, text=True)
        ms = [float(w.split()[0]) for line in p.stdout.splitlines() if "ms/img" in line
              for w in [line.split("\t")[-1]] if w.strip().endswith("ms/img")]
        name = next((line.split("engine: ", 1)[1] for line in p.stdout.splitlines() if "engine: " in line), "?")
        if p.returncode != 0 or not ms:
            raise RuntimeError(f"vkdeit {prec}: {p.stdout[-2000:]}{p.stderr[-2000:]}")
        return ms, name

    def ort(px_file, B, warmup, iters, logits_out=""):
        p = subprocess.run(["node", os.path.join(work, "ort.js"), onnx_path, px_file, str(B), "3",
                            str(model.image), str(model.image), str(a.threads), str(warmup), str(iters), "1" if a.spin else "0",
                            logits_out],
                           env=dict(os.environ, NODE_PATH=os.path.join(a.ort_node, "node_modules")),
                           capture_output=True, text=True)
        if p.returncode != 0:
            raise RuntimeError(f"ort: {p.stderr[-2000:]}")
        return [v / B for v in json.loads(p.stdout)["lat"]]

    torch_fns = {"torch-eager": module, "torch-bf16": module}
    results = {}
    for B in [int(b) for b in a.batch.split(",")]:
        x = make_input(model, B, 1)
        px_file = os.path.join(work, f"pixels-{B}.f32")
        with open(px_file, "wb") as f:
            f.write(x.contiguous().numpy().tobytes())
        with torch.no_grad():
            ref = module.double()(x.double())
            module.float()
        iters = max(2, a.iters // max(1, B // 2))
        ok, names = {}, {}
        print(f"\nbatch {B}: checking logits against the float64 forward")
        for p in peers:
            bound = 1.5e-2 if "bf16" in p else 1e-4
            try:
                lg = os.path.join(work, f"logits-{p}-{B}.f32")
                if p.startswith("vkdeit"):
                    _, names[p] = vkdeit(p.split("-")[1], px_file, B, 1, lg)
                    got = read_f32(lg, ref.shape)
                elif p == "ort":
                    ort(px_file, B, 0, 1, lg)
                    got = read_f32(lg, ref.shape)
                else:
                    if p == "torch-trace":
                        with torch.no_grad():
                            torch_fns[p] = torch.jit.trace(module, x, check_trace=False)
                    with torch.inference_mode(), torch.autocast("cpu", dtype=torch.bfloat16, enabled=p == "torch-bf16"):
                        got = torch_fns[p](x).float()
                err = rel_l2(got, ref)
                ok[p] = err <= bound
                print(f"  {p:<12} relative L2 {err:.2e} (bound {bound:g}) {'ok' if ok[p] else 'FAILED: not timed'}"
                      + (f"  [{names[p]}]" if p in names else ""))
            except Exception as e:  # a peer that cannot run is reported, the others go on
                ok[p] = False
                print(f"  {p:<12} FAILED: {e}")
        lat = {p: [] for p in peers if ok[p]}
        order = list(lat)
        for r in range(a.rounds):
            for p in order[r % len(order):] + order[:r % len(order)]:
                if p.startswith("vkdeit"):
                    lat[p] += vkdeit(p.split("-")[1], px_file, B, iters)[0]
                elif p == "ort":
                    lat[p] += ort(px_file, B, a.warmup, iters)
                else:
                    with torch.inference_mode(), torch.autocast("cpu", dtype=torch.bfloat16, enabled=p == "torch-bf16"):
                        for _ in range(a.warmup):
                            torch_fns[p](x)
                        for _ in range(iters):
                            t0 = time.perf_counter()
                            torch_fns[p](x)
                            lat[p].append((time.perf_counter() - t0) * 1e3 / B)
            print(f"  round {r + 1}/{a.rounds} done, load {loadavg()}")
        med = {p: statistics.median(v) for p, v in lat.items()}
        results[B] = med
        print(f"batch {B}: median ms per image over {a.rounds} alternating rounds")
        for p, v in med.items():
            print(f"  {p:<12} {v:8.2f} ms/img")
        torch_best = min((p for p in med if p.startswith("torch")), key=med.get, default=None)
        for vk in ("vkdeit-fp32", "vkdeit-bf16"):
            if vk not in med:
                continue
            line = "  ".join(f"{med[p] / med[vk]:.2f}× {p}" for p in med if p != vk)
            if torch_best:
                line += f"  | best torch ({torch_best}) {med[torch_best] / med[vk]:.2f}×"
            print(f"  {vk} speed vs: {line}")
    if a.json:
        with open(a.json, "w") as f:
            json.dump({"cpu": cpuname, "threads": a.threads, "medians_ms_per_image": results}, f, indent=2)


if __name__ == "__main__":
    main()
