"""balgan against PyTorch, step for step, on one machine: `./run bench --compare`.

Runs each Rust bench (cargo bench) and then its PyTorch peer (benches/<bench>.py)
with the same sizes, which are set here, in CASES, and handed to both sides
through the same environment variables (BALGAN_BENCH_SIZE, _BATCH, _STEPS,
_SET, _MODELS, _QUICK). Both sides print what they ran as a CONFIG line; a
peer whose sizes differ from the Rust bench's is reported, not compared. The
Rust benches' own tables (with the per-kernel profile of each step) are
printed as they run; at the end comes one table, balgan / PyTorch per step,
also written to target/bench-compare.md.

    python3 benches/compare.py            # quick on a CPU adapter, full on a GPU
    python3 benches/compare.py --quick    # the sizes for a CPU adapter (under 10 minutes on 2 cores)
    python3 benches/compare.py --full     # the papers' sizes (for a GPU)
    python3 benches/compare.py --only cpu-sgbgan,critic

The peers run under BALGAN_PEER_PYTHON (default: python3), which needs
PyTorch; where it has none, the table has the balgan column alone and says
how to install it. This script itself needs only the standard library.
"""

import argparse
import os
import re
import shutil
import subprocess
import sys
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
INSTALL = "python3 -m venv /tmp/peer && /tmp/peer/bin/pip install torch numpy scipy"
CPU_SET = "width=8,latent=32,attention=false,n_critic=1"

# The cases of each mode: (name, Rust bench = PyTorch peer, environment for both).
CASES = {
    "quick": [
        # One timed step (after a warm-up, and before the profiled one): these
        # steps take tens of seconds each on lavapipe.
        ("paper", "gan_step", {"BALGAN_BENCH_SIZE": "32", "BALGAN_BENCH_BATCH": "16", "BALGAN_BENCH_STEPS": "1"}),
        (
            "cpu-sgbgan",
            "gan_step",
            {
                "BALGAN_BENCH_SIZE": "28",
                "BALGAN_BENCH_BATCH": "32",
                "BALGAN_BENCH_STEPS": "3",
                "BALGAN_BENCH_SET": CPU_SET,
                "BALGAN_BENCH_MODELS": "sgbgan",
            },
        ),
        ("critic", "critic_step", {"BALGAN_BENCH_BATCH": "16", "BALGAN_BENCH_STEPS": "3"}),
        ("matmul", "matmul", {}),
        ("dispatch", "dispatch", {}),
    ],
    "full": [
        ("paper", "gan_step", {"BALGAN_BENCH_SIZE": "64", "BALGAN_BENCH_BATCH": "128", "BALGAN_BENCH_STEPS": "3"}),
        (
            "cpu-sgbgan",
            "gan_step",
            {
                "BALGAN_BENCH_SIZE": "28",
                "BALGAN_BENCH_BATCH": "64",
                "BALGAN_BENCH_STEPS": "5",
                "BALGAN_BENCH_SET": CPU_SET,
                "BALGAN_BENCH_MODELS": "sgbgan",
            },
        ),
        ("critic", "critic_step", {"BALGAN_BENCH_BATCH": "128", "BALGAN_BENCH_STEPS": "10"}),
        ("matmul", "matmul", {}),
        ("dispatch", "dispatch", {}),
    ],
}
ENV_KEYS = ("BALGAN_BENCH_QUICK", "BALGAN_BENCH_SIZE", "BALGAN_BENCH_BATCH", "BALGAN_BENCH_STEPS",
            "BALGAN_BENCH_SET", "BALGAN_BENCH_MODELS")


class Run:
    """One side's output of one case: RESULT figures, CONFIG, ADAPTER, failure."""

    def __init__(self):
        self.results, self.config, self.adapter, self.error = {}, None, None, None

    def parse(self, line):
        parts = line.split()
        if len(parts) >= 3 and parts[0] == "RESULT":
            try:
                self.results[parts[1]] = float(parts[2])
            except ValueError:
                pass
        elif len(parts) >= 2 and parts[0] == "CONFIG":
            self.config = dict(p.split("=", 1) for p in parts[2:] if "=" in p)
        elif line.startswith("ADAPTER ") and self.adapter is None:
            self.adapter = line[len("ADAPTER "):].strip()


def stream(cmd, env, echo):
    """Runs `cmd`, printing its stdout as it comes when `echo`, and parses it."""
    run = Run()
    try:
        proc = subprocess.Popen(cmd, cwd=ROOT, env=env, stdout=subprocess.PIPE, text=True, encoding="utf-8",
                                errors="replace")
    except OSError as e:
        run.error = str(e)
        return run
    for line in proc.stdout:
        if echo:
            sys.stdout.write(line)
            sys.stdout.flush()
        run.parse(line.rstrip("\n"))
    if proc.wait() != 0:
        run.error = f"exit status {proc.returncode}"
    return run


def peer_python():
    """(interpreter, None) where it imports torch, else (None, why)."""
    py = os.environ.get("BALGAN_PEER_PYTHON", "python3")
    if shutil.which(py) is None and not os.path.exists(py):
        return None, f"{py} (BALGAN_PEER_PYTHON) is not there"
    check = subprocess.run([py, "-c", "import torch"], capture_output=True, text=True)
    if check.returncode != 0:
        return None, f"{py} (BALGAN_PEER_PYTHON) has no PyTorch"
    return py, None


def default_mode():
    """quick on a CPU adapter (or when balgan cannot say), full on a GPU."""
    try:
        out = subprocess.run(["cargo", "run", "--release", "--quiet", "--bin", "balgan", "--", "info", "--backend"],
                             cwd=ROOT, capture_output=True, text=True, timeout=900).stdout.split()
    except (OSError, subprocess.SubprocessError):
        return "quick"
    return "quick" if not out or out[-1] == "cpu" else "full"


def fmt_ms(ms):
    if ms is None:
        return "—"
    return f"{ms / 1e3:.2f} s" if ms >= 1000 else f"{ms:.1f} ms"


def fmt(v, unit):
    if v is None:
        return "—"
    if unit == "ms":
        return fmt_ms(v)
    if unit == "x":
        return f"{v:.2f}×"
    if unit == "GFLOP/s":
        return f"{v:.1f} GFLOP/s"
    if unit == "us":
        return f"{v:.1f} µs"
    return f"{v:g}"


def main():
    parser = argparse.ArgumentParser(description="balgan's benches against their PyTorch peers, one table.")
    mode = parser.add_mutually_exclusive_group()
    mode.add_argument("--quick", action="store_true", help="the sizes for a CPU adapter (default there)")
    mode.add_argument("--full", action="store_true", help="the papers' sizes, for a GPU (default there)")
    parser.add_argument("--only", help="comma-separated cases: " + ", ".join(c[0] for c in CASES["quick"]))
    parser.add_argument("--no-peer", action="store_true", help="balgan's column only")
    args = parser.parse_args()
    mode = "quick" if args.quick else "full" if args.full else default_mode()
    cases = CASES[mode]
    if args.only:
        wanted = {w.strip() for w in args.only.split(",") if w.strip()}
        unknown = wanted - {c[0] for c in cases}
        if unknown:
            sys.exit(f"compare.py: no case {', '.join(sorted(unknown))}; the cases are "
                     + ", ".join(c[0] for c in cases))
        cases = [c for c in cases if c[0] in wanted]

    py, why = (None, "--no-peer") if args.no_peer else peer_python()
    start = time.time()
    print(f"compare ({mode} mode): building the benches ...", flush=True)
    benches = sorted({c[1] for c in cases})
    build = ["cargo", "bench", "--no-run", "--quiet"] + [a for b in benches for a in ("--bench", b)]
    if subprocess.run(build, cwd=ROOT).returncode != 0:
        sys.exit("compare.py: the benches do not build")

    base = {k: v for k, v in os.environ.items() if k not in ENV_KEYS}
    if mode == "quick":
        base["BALGAN_BENCH_QUICK"] = "1"
    runs = {}
    failures = []
    for name, bench, env in cases:
        env = dict(base, **env)
        print(f"\n## {name}: cargo bench --bench {bench}"
              + "".join(f" {k}={v}" for k, v in env.items() if k in ENV_KEYS and k != "BALGAN_BENCH_QUICK"),
              flush=True)
        rust = stream(["cargo", "bench", "--quiet", "--bench", bench], env, echo=True)
        if rust.error:
            failures.append(f"{name}: cargo bench --bench {bench} failed ({rust.error})")
        torch = Run()
        if py:
            print(f"\n## {name}: {py} benches/{bench}.py", flush=True)
            torch = stream([py, os.path.join("benches", f"{bench}.py")], env, echo=True)
            if torch.error:
                failures.append(f"{name}: benches/{bench}.py failed ({torch.error})")
            elif rust.config is not None and torch.config != rust.config:
                failures.append(f"{name}: the peer ran {torch.config}, the Rust bench {rust.config}: not compared")
                torch.results = {}
        runs[name] = (rust, torch)

    def pair(case, key):
        if case not in runs:
            return None, None
        rust, torch = runs[case]
        return rust.results.get(key), torch.results.get(key)

    def cfg(case):
        rust = runs.get(case, (Run(), None))[0]
        return rust.config or {}

    rows = []  # (step, balgan, torch, ratio)

    def time_row(label, case, key):
        b, t = pair(case, key)
        if b is None and t is None:
            return
        rows.append((label, fmt_ms(b), fmt_ms(t), f"{b / t:.1f}×" if b and t else "—"))

    p = cfg("paper")
    if p:
        size = f"{p.get('size')}×{p.get('size')}×1, batch {p.get('batch')}"
        n = p.get("n_critic", "5")
        time_row(f"BAGAN-GP full step ({n} D + 1 G), {size}", "paper", "gan_step.bagan-gp.full_ms")
        time_row(f"SGBGAN full step ({n} D + 1 G), {size}", "paper", "gan_step.sgbgan.full_ms")
    c = cfg("cpu-sgbgan")
    if c:
        time_row(f"CPU-sized SGBGAN full step ({c.get('n_critic')} D + 1 G), {c.get('size')}×{c.get('size')}×1, "
                 f"batch {c.get('batch')}, width {c.get('width')}, latent {c.get('latent')}, attention "
                 f"{'on' if c.get('attention') == 'true' else 'off'}", "cpu-sgbgan", "gan_step.sgbgan.full_ms")
    k = cfg("critic")
    if k:
        time_row(f"critic step, plain (28×28×1, batch {k.get('batch')})", "critic", "critic_step.plain_ms")
        time_row("critic step, WGAN-GP", "critic", "critic_step.wgan_gp_ms")
        b, t = pair("critic", "critic_step.gp_ratio")
        if b is not None or t is not None:
            rows.append(("gradient penalty's cost (WGAN-GP / plain)", fmt(b, "x"), fmt(t, "x"), "—"))
    b, t = pair("matmul", "matmul.1024x1024x1024.ab")
    if b is not None or t is not None:
        rows.append(("matmul 1024³", fmt(b, "GFLOP/s"), fmt(t, "GFLOP/s"), f"{t / b:.1f}×" if b and t else "—"))
    b, t = pair("dispatch", "dispatch.chain_256")
    if b is not None or t is not None:
        rows.append(("tiny op (256 elements; per dispatch / per op)", fmt(b, "us"), fmt(t, "us"),
                     f"{b / t:.1f}×" if b and t else "—"))

    adapters = [r.adapter for r, _ in runs.values() if r.adapter]
    peers = [t.adapter for _, t in runs.values() if t.adapter]
    lines = [
        f"balgan against PyTorch, {mode} mode, on {os.uname().nodename} ({os.cpu_count()} cores), "
        f"{time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}",
        "",
        f"- balgan: {adapters[0] if adapters else 'no adapter reported'}",
        f"- PyTorch: {peers[0] if peers else 'not run: ' + (why or 'no result')}",
        "",
        "| step | balgan | PyTorch | ratio |",
        "|---|---:|---:|---:|",
    ]
    lines += [f"| {a} | {b} | {t} | {r} |" for a, b, t, r in rows]
    lines += ["", "ratio: how many times longer balgan takes (for matmul: how many times fewer GFLOP/s).", ""]

    # balgan's own figures per step, from the per-kernel profile.
    prof = []
    for label, case, key, ms_key, d_key in [
        ("BAGAN-GP full step", "paper", "gan_step.bagan-gp", ".full_ms", ".full_dispatches"),
        ("BAGAN-GP autoencoder step", "paper", "gan_step.bagan-gp", ".pretrain_ms", ".pretrain_dispatches"),
        ("SGBGAN full step", "paper", "gan_step.sgbgan", ".full_ms", ".full_dispatches"),
        ("SGBGAN SA-GVAE step", "paper", "gan_step.sgbgan", ".pretrain_ms", ".pretrain_dispatches"),
        ("CPU-sized SGBGAN full step", "cpu-sgbgan", "gan_step.sgbgan", ".full_ms", ".full_dispatches"),
        ("CPU-sized SA-GVAE step", "cpu-sgbgan", "gan_step.sgbgan", ".pretrain_ms", ".pretrain_dispatches"),
        ("critic step, plain", "critic", "critic_step.plain", "_ms", "_dispatches"),
        ("critic step, WGAN-GP", "critic", "critic_step.wgan_gp", "_ms", "_dispatches"),
    ]:
        if case not in runs:
            continue
        r = runs[case][0].results
        ms, d = r.get(key + ms_key), r.get(key + d_key)
        if ms is None:
            continue
        # The profile is of the full (or critic) step, not of the pre-training step.
        profiled = "pretrain" not in ms_key
        g = r.get(f"{key}.gemm_gflops") if profiled else None
        share = r.get(f"{key}.gemm_share") if profiled else None
        prof.append(f"| {label} | {fmt_ms(ms)} | {'—' if d is None else f'{d:.0f}'} | {fmt(g, 'GFLOP/s')} | "
                    f"{'—' if share is None else f'{share:.0f} %'} |")
    if prof:
        lines += [
            "balgan per step (dispatches counted over the timed steps; GEMM figures from the per-kernel profile",
            "of one step: declared FLOPs over GEMM time, and GEMM time's share of the profiled step)",
            "",
            "| step | time | dispatches | GEMM GFLOP/s | GEMM share |",
            "|---|---:|---:|---:|---:|",
        ] + prof + [""]
    if not py:
        lines.append(f"PyTorch column empty ({why}): install the peer with `{INSTALL}` "
                     "and run with BALGAN_PEER_PYTHON=/tmp/peer/bin/python.")
    lines.append(f"compare took {(time.time() - start) / 60:.1f} minutes.")
    for f in failures:
        lines.append(f"FAILED: {f}")
    table = "\n".join(lines)
    print("\n" + table)
    try:
        os.makedirs(os.path.join(ROOT, "target"), exist_ok=True)
        with open(os.path.join(ROOT, "target", "bench-compare.md"), "w", encoding="utf-8") as f:
            f.write(table + "\n")
    except OSError:
        pass
    sys.exit(1 if failures else 0)


if __name__ == "__main__":
    main()
