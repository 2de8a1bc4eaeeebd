#!/usr/bin/python3
"""Which BLAS Debian's torch loads, how fast its SGEMM is, and a fix for the slow case.

Debian's python3-torch calls whatever package provides libblas.so.3 (the
alternatives system chooses; `update-alternatives --display
libblas.so.3-x86_64-linux-gnu`). Of the OpenBLAS builds, libopenblas0-pthread
has the higher priority, so it wins as soon as it is installed, and inside
torch it is the wrong one: torch parallelizes with OpenMP (libgomp), and
OpenBLAS's own pthreads then compete with torch's spinning OpenMP workers for
the same cores. A lone matmul runs at full speed, the model does not (5x slower
at batch 1 on a 2-core machine). libopenblas0-openmp runs its threads in the
same OpenMP pool and has no such fight.

ensure_blas() (used by torch_cpu.py) checks /proc/self/maps after `import torch`
and, when the loaded BLAS is not the OpenMP OpenBLAS, re-executes the script
with LD_LIBRARY_PATH pointing at /usr/lib/x86_64-linux-gnu/openblas-openmp (if
installed), or with a pthread mitigation when it is not.

As a script it is the GEMM probe: BLAS identity, torch's build/parallel config,
and SGEMM GFLOPS through torch.matmul for deit-small's shapes and 1024^3 at 1
and 2 threads, once per OPENBLAS_CORETYPE setting (unset, the environment's
value if any, and --coretypes), each in a fresh process:

    /usr/bin/python3 bench/torch_blas.py                       # as loaded + OpenMP OpenBLAS
    /usr/bin/python3 bench/torch_blas.py --coretypes SkylakeX,Haswell --json gemm.json
"""

import argparse
import ctypes
import json
import os
import re
import subprocess
import sys
import time

LIBDIR = "/usr/lib/x86_64-linux-gnu"
OPENMP_DIR = os.path.join(LIBDIR, "openblas-openmp")
PTHREAD_DIR = os.path.join(LIBDIR, "openblas-pthread")
ALTERNATIVES = ("libblas.so.3-x86_64-linux-gnu", "liblapack.so.3-x86_64-linux-gnu", "libopenblas.so.0-x86_64-linux-gnu")
REEXEC = "VKDEIT_TORCH_BLAS_REEXEC"  # JSON {var: original value or null} of what the re-exec changed
# What the pthread build gets when the OpenMP build is not installed: one OpenBLAS thread, so
# nothing fights torch's OpenMP threads (GEMMs then run on one core). On the 2-core machine:
# 71 ms/img at batch 1 against 240 ms as loaded and 45 ms on the OpenMP build;
# OMP_WAIT_POLICY=PASSIVE ranged 55-115 ms from run to run, so it is not the default.
PTHREAD_FIX = {"OPENBLAS_NUM_THREADS": "1"}
ENV_KEYS = ("OPENBLAS_CORETYPE", "OPENBLAS_NUM_THREADS", "OPENBLAS_VERBOSE", "OMP_NUM_THREADS", "OMP_WAIT_POLICY",
            "GOMP_SPINCOUNT", "OMP_PROC_BIND", "MKL_NUM_THREADS", "DNNL_VERBOSE", "ONEDNN_VERBOSE",
            "LD_LIBRARY_PATH", "LD_PRELOAD")
SHAPES = ((200, 384, 1536), (1584, 384, 1536), (1024, 1024, 1024))
INSTALL_HINT = ("apt-get install libopenblas0-openmp && update-alternatives --set libblas.so.3-x86_64-linux-gnu "
                f"{OPENMP_DIR}/libblas.so.3 (likewise liblapack.so.3 and libopenblas.so.0), "
                "or apt-get remove libopenblas0-pthread")


def mapped_libs():
    """Paths of the BLAS/LAPACK/OpenMP/oneDNN libraries mapped into this process."""
    out = set()
    with open("/proc/self/maps") as f:
        for line in f:
            p = line.split()[-1] if len(line.split()) >= 6 else ""
            b = os.path.basename(p)
            if re.search(r"blas|lapack|libgomp|libiomp|libomp|dnnl|mkl|blis|atlas", b):
                out.add(p)
    return sorted(out)


def variant_of(path):
    """'openmp', 'pthread', 'serial', 'reference', 'blis', 'atlas', 'mkl' or 'other' from a library path."""
    d = os.path.basename(os.path.dirname(path))
    for k in ("openmp", "pthread", "serial"):
        if d == "openblas-" + k:
            return k
    if d == "blas" or d == "lapack":
        return "reference"
    for k in ("blis", "atlas", "mkl"):
        if k in path:
            return k
    return "other"


def alternatives():
    """{alternative: current target} from update-alternatives --query (None where it fails)."""
    res = {}
    for name in ALTERNATIVES:
        try:
            q = subprocess.run(["update-alternatives", "--query", name], stdout=subprocess.PIPE,
                               stderr=subprocess.DEVNULL, text=True, timeout=10).stdout
            m = re.search(r"^Value: (.*)$", q, re.M)
            res[name] = m.group(1) if m else None
        except (OSError, subprocess.SubprocessError):
            res[name] = None
    return res


def blas_info():
    """What this process (torch already imported) has loaded, and OpenBLAS's own view of itself."""
    libs = mapped_libs()
    blas = next((p for p in libs if re.match(r"libblas\.so|libopenblas|libblis|libmkl_rt", os.path.basename(p))), None)
    info = {"libs": libs, "blas": blas, "variant": variant_of(blas) if blas else None,
            "openblas": None, "corename": None, "config": None, "parallel": None, "num_threads": None,
            "env": {k: os.environ[k] for k in ENV_KEYS if k in os.environ},
            "reexec": json.loads(os.environ[REEXEC]) if REEXEC in os.environ else None,
            "openmp_installed": os.path.exists(os.path.join(OPENMP_DIR, "libblas.so.3")),
            "alternatives": alternatives()}
    ob = next((p for p in libs if os.path.basename(p).startswith("libopenblas")), None)
    if ob:
        info["openblas"] = ob
        try:
            lib = ctypes.CDLL(ob)
            lib.openblas_get_corename.restype = ctypes.c_char_p
            lib.openblas_get_config.restype = ctypes.c_char_p
            info["corename"] = lib.openblas_get_corename().decode()
            info["config"] = lib.openblas_get_config().decode()
            info["parallel"] = {0: "sequential", 1: "pthread", 2: "openmp"}.get(lib.openblas_get_parallel(), "?")
            info["num_threads"] = lib.openblas_get_num_threads()
        except (OSError, AttributeError) as e:
            info["config"] = f"(ctypes: {e})"
    return info


def torch_config():
    """The lines of torch.__config__.show()/parallel_info() that say which BLAS, OpenMP and oneDNN."""
    import torch
    show, par = torch.__config__.show(), torch.__config__.parallel_info()
    keep = {}
    for k in ("BLAS_INFO", "LAPACK_INFO", "USE_MKLDNN", "USE_OPENMP", "USE_MKL", "CXX_FLAGS"):
        m = re.search(rf"\b{k}=([^,\n]*)", show)
        if m:
            keep[k] = m.group(1).strip()[:80] if k == "CXX_FLAGS" else m.group(1).strip()
    for line in (show + "\n" + par).splitlines():
        line = line.strip(" -")
        if re.match(r"(Intel\(R\) MKL-DNN|oneDNN|OpenMP|CPU capability|ATen parallel backend|"
                    r"at::get_num|std::thread|Intel\(R\) Math|MKL)", line):
            if line not in keep.setdefault("lines", []):
                keep["lines"].append(line)
    try:
        keep["cpu_capability"] = torch.backends.cpu.get_cpu_capability()
    except AttributeError:
        pass
    keep["mkldnn_available"] = torch.backends.mkldnn.is_available()
    keep["mkldnn_enabled"] = bool(torch.backends.mkldnn.enabled)
    keep["num_threads"] = torch.get_num_threads()
    return keep


def describe(info, cfg=None):
    """One readable paragraph of blas_info() (+ torch_config())."""
    lines = [f"BLAS loaded: {info['blas'] or '(none found in /proc/self/maps)'} [{info['variant']}]"]
    if info["openblas"]:
        lines.append(f"  OpenBLAS: core {info['corename']}, threading {info['parallel']}, "
                     f"{info['num_threads']} threads; {info['config']}")
    alt = info["alternatives"].get(ALTERNATIVES[0])
    if alt:
        lines.append(f"  system libblas.so.3 alternative: {alt} [{variant_of(alt)}]"
                     f"{'' if info['openmp_installed'] else '; libopenblas0-openmp not installed'}")
    if info["reexec"] is not None:
        lines.append("  re-executed with " + ", ".join(f"{k}={os.environ.get(k, '')}" for k in info["reexec"]))
    env = {k: v for k, v in info["env"].items() if k not in (info["reexec"] or {})}
    lines.append("  environment: " + (", ".join(f"{k}={v}" for k, v in env.items()) or "no BLAS/OpenMP variables set")
                 + ("" if "OPENBLAS_CORETYPE" in info["env"] else "; OPENBLAS_CORETYPE unset (autodetected)"))
    if cfg:
        lines.append(f"  torch: BLAS_INFO={cfg.get('BLAS_INFO')}, LAPACK_INFO={cfg.get('LAPACK_INFO')}, "
                     f"USE_MKLDNN={cfg.get('USE_MKLDNN')}, USE_OPENMP={cfg.get('USE_OPENMP')}, "
                     f"mkldnn available={cfg['mkldnn_available']} "
                     f"enabled={cfg['mkldnn_enabled']}, {cfg['num_threads']} threads")
        for line in cfg.get("lines", []):
            lines.append("    " + line)
    return "\n".join(lines)


def ensure_blas(mode, log=sys.stderr):
    """Makes this process run on the OpenMP OpenBLAS, re-executing itself if needed.

    mode: 'auto' (OpenMP OpenBLAS if installed, else the pthread mitigation),
    'openmp' (exit when it is not installed), 'as-is' (only report).
    Returns blas_info(); may not return (os.execve)."""
    import torch  # noqa: F401 - loads libtorch and with it the BLAS
    info = blas_info()
    if mode == "as-is" or info["variant"] == "openmp":
        return info
    if info["reexec"] is not None:  # already re-executed once: do not loop
        if "LD_LIBRARY_PATH" in info["reexec"]:
            print(f"torch_blas: warning: still on {info['blas']} [{info['variant']}] after re-executing with "
                  f"LD_LIBRARY_PATH={os.environ.get('LD_LIBRARY_PATH')}", file=log)
        return info
    if info["openmp_installed"]:
        change = {"LD_LIBRARY_PATH": OPENMP_DIR + (":" + os.environ["LD_LIBRARY_PATH"]
                                                   if os.environ.get("LD_LIBRARY_PATH") else "")}
        why = (f"torch loaded {info['blas']} [{info['variant']}]; re-running on the OpenMP OpenBLAS "
               f"(LD_LIBRARY_PATH={OPENMP_DIR}). To make it the default: {INSTALL_HINT}")
    elif mode == "openmp":
        sys.exit(f"torch_blas: torch loaded {info['blas']} [{info['variant']}] and libopenblas0-openmp is "
                 f"not installed: {INSTALL_HINT}")
    elif info["variant"] == "pthread":
        change = {k: v for k, v in PTHREAD_FIX.items() if k not in os.environ}
        if not change:
            return info
        why = (f"torch loaded the pthread OpenBLAS ({info['blas']}), whose threads fight torch's OpenMP threads "
               f"(~5x slower at batch 1); libopenblas0-openmp is not installed, so re-running with "
               + ", ".join(f"{k}={v}" for k, v in change.items())
               + f" (still slower than the OpenMP build). Fix: {INSTALL_HINT}")
    else:
        print(f"torch_blas: warning: torch loaded {info['blas']} [{info['variant']}], not OpenBLAS; "
              f"the baseline will be slow. Fix: {INSTALL_HINT}", file=log)
        return info
    print("torch_blas: " + why, file=log, flush=True)
    env = dict(os.environ)
    env.update(change)
    env[REEXEC] = json.dumps({k: os.environ.get(k) for k in change})
    log.flush()
    sys.stdout.flush()
    os.execve(sys.executable, [sys.executable] + sys.argv, env)


def original_env():
    """os.environ without the changes ensure_blas() made (for child processes such as vkdeit)."""
    env = dict(os.environ)
    for k, v in json.loads(env.pop(REEXEC, "{}")).items():
        if v is None:
            env.pop(k, None)
        else:
            env[k] = v
    return env


def openblas_threads():
    """openblas_get_num_threads() of the loaded OpenBLAS (None without one). The pthread build keeps its
    own count (OPENBLAS_NUM_THREADS, default all cores) whatever torch.set_num_threads says; the OpenMP
    build follows torch's thread count, reported as "=torch"."""
    ob = next((p for p in mapped_libs() if os.path.basename(p).startswith("libopenblas")), None)
    try:
        if not ob:
            return None
        lib = ctypes.CDLL(ob)
        if lib.openblas_get_parallel() == 2:
            return "=torch"  # the OpenMP build runs in the caller's OpenMP team (torch.set_num_threads)
        return lib.openblas_get_num_threads()
    except (OSError, AttributeError):
        return None


def sgemm_gflops(m, k, n, threads, reps=None, min_time=0.5):
    """Median GFLOPS of torch.matmul([m,k] @ [k,n]) fp32 with `threads` torch threads."""
    import torch
    old = torch.get_num_threads()
    torch.set_num_threads(threads)
    try:
        g = torch.Generator().manual_seed(0)
        a, b = torch.randn(m, k, generator=g), torch.randn(k, n, generator=g)
        c = torch.empty(m, n)
        flop = 2 * m * k * n
        t0 = time.perf_counter()
        for _ in range(3):
            torch.matmul(a, b, out=c)
        per = (time.perf_counter() - t0) / 3
        reps = reps or max(5, min(200, int(min_time / max(per, 1e-6))))
        ts = []
        for _ in range(reps):
            s = time.perf_counter()
            torch.matmul(a, b, out=c)
            ts.append(time.perf_counter() - s)
        ts.sort()
        return {"m": m, "k": k, "n": n, "threads": threads, "openblas_threads": openblas_threads(), "reps": reps,
                "gflops_p50": flop / ts[len(ts) // 2] / 1e9, "gflops_best": flop / ts[0] / 1e9}
    finally:
        torch.set_num_threads(old)


def probe(threads=(1, 2), shapes=SHAPES):
    return [sgemm_gflops(m, k, n, t) for (m, k, n) in shapes for t in threads]


def print_gemm(rows, out=sys.stdout, indent="  "):
    print(f"{indent}{'SGEMM M×K×N':<16} {'torch thr':>9} {'OpenBLAS thr':>12} {'GFLOPS p50':>10} {'best':>7}", file=out)
    for g in rows:
        shape = f"{g['m']}×{g['k']}×{g['n']}"
        ob = g.get("openblas_threads")
        print(f"{indent}{shape:<16} {g['threads']:>9} {'-' if ob is None else ob:>12} {g['gflops_p50']:>10.1f} "
              f"{g['gflops_best']:>7.1f}", file=out)


def loadavg():
    try:
        with open("/proc/loadavg") as f:
            return " ".join(f.read().split()[:3])
    except OSError:
        return "?"


def _child(a):
    import torch
    info = blas_info()
    res = {"info": info, "torch": torch_config(), "gemm": probe(), "load": loadavg()}
    json.dump(res, sys.stdout)


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--coretypes", default="", help="extra OPENBLAS_CORETYPE values to try, comma-separated "
                    "(e.g. SkylakeX,Cooperlake,Haswell)")
    ap.add_argument("--blas", default="both", choices=["both", "as-is", "openmp"],
                    help="which OpenBLAS: as loaded, the OpenMP build via LD_LIBRARY_PATH, or both (default)")
    ap.add_argument("--json", metavar="FILE")
    ap.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    a = ap.parse_args()
    if a.child:
        return _child(a)
    env_ct = os.environ.get("OPENBLAS_CORETYPE")
    cts = [None] + ([env_ct] if env_ct else []) + [c for c in a.coretypes.split(",") if c and c != env_ct]
    libs = {"as-is": None, "openmp": OPENMP_DIR}
    which = ["as-is", "openmp"] if a.blas == "both" else [a.blas]
    if "openmp" in which and not os.path.exists(os.path.join(OPENMP_DIR, "libblas.so.3")):
        print(f"torch_blas: {OPENMP_DIR} missing (apt-get install libopenblas0-openmp); skipping it", file=sys.stderr)
        which.remove("openmp")
    print(f"OPENBLAS_CORETYPE in the environment: {env_ct!r}; load {loadavg()}")
    runs = []
    for w in which:
        for ct in cts:
            env = {k: v for k, v in os.environ.items() if k != "OPENBLAS_CORETYPE"}
            if ct:
                env["OPENBLAS_CORETYPE"] = ct
            if libs[w]:
                env["LD_LIBRARY_PATH"] = libs[w] + (":" + env["LD_LIBRARY_PATH"] if env.get("LD_LIBRARY_PATH") else "")
            p = subprocess.run([sys.executable, os.path.abspath(__file__), "--child"], env=env,
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
            if p.returncode != 0:
                print(f"probe ({w}, OPENBLAS_CORETYPE={ct}) failed:\n{p.stderr}", file=sys.stderr)
                continue
            r = json.loads(p.stdout)
            r.update(blas_choice=w, coretype=ct, stderr=p.stderr.strip())
            runs.append(r)
            print()
            print(f"== {w}, OPENBLAS_CORETYPE={ct or '(unset)'}, load {r['load']}")
            print(describe(r["info"], r["torch"] if len(runs) == 1 else None))
            if r["stderr"]:
                print("  stderr: " + r["stderr"][:300])
            print_gemm(r["gemm"])
    if a.json:
        with open(a.json, "w") as f:
            json.dump(runs, f, indent=2)


if __name__ == "__main__":
    main()
