"""The critic step of benches/critic_step.rs in PyTorch, and the ratio.

Runs balgan's bench (cargo bench --bench critic_step), then the same step in
PyTorch on the best device it has (CUDA if present, else CPU), and prints both
times and their ratio. Needs PyTorch; exits with a message where it is missing.

    python3 benches/critic_step.py            # batch 128
    BALGAN_BENCH_QUICK=1 python3 benches/critic_step.py   # batch 16
"""

import os
import re
import subprocess
import sys
import time

try:
    import torch
    import torch.nn as nn
except ImportError:
    sys.exit("critic_step.py: PyTorch is not installed (pip install torch); nothing to compare")

QUICK = os.environ.get("BALGAN_BENCH_QUICK") == "1"
BATCH, STEPS = (16, 3) if QUICK else (128, 10)


def balgan_times():
    out = subprocess.run(["cargo", "bench", "--bench", "critic_step"], capture_output=True, text=True, check=True).stdout
    rows = dict(re.findall(r"^\| (plain|WGAN-GP)[^|]*\| ([0-9.]+) \|", out, re.M))
    return out, float(rows["plain"]), float(rows["WGAN-GP"])


def torch_times(device):
    torch.manual_seed(7)
    critic = nn.Sequential(
        nn.Conv2d(1, 64, 4, 2, 1), nn.LeakyReLU(0.2),
        nn.Conv2d(64, 128, 4, 2, 1), nn.LeakyReLU(0.2),
        nn.Flatten(), nn.Linear(128 * 7 * 7, 1),
    ).to(device)
    opt = torch.optim.Adam(critic.parameters(), lr=1e-4, betas=(0.0, 0.9))
    real = torch.rand(BATCH, 1, 28, 28, device=device) * 2 - 1
    fake = torch.rand(BATCH, 1, 28, 28, device=device) * 2 - 1

    def step(with_gp):
        loss = critic(fake).mean() - critic(real).mean()
        if with_gp:
            alpha = torch.rand(BATCH, 1, 1, 1, device=device)
            xh = (alpha * real + (1 - alpha) * fake).requires_grad_(True)
            g, = torch.autograd.grad(critic(xh).sum(), xh, create_graph=True)
            norm = (g.pow(2).sum(dim=(1, 2, 3)) + 1e-12).sqrt()
            loss = loss + 10.0 * ((norm - 1) ** 2).mean()
        opt.zero_grad()
        loss.backward()
        opt.step()

    times = []
    for with_gp in (False, True):
        step(with_gp)
        if device == "cuda":
            torch.cuda.synchronize()
        start = time.perf_counter()
        for _ in range(STEPS):
            step(with_gp)
        if device == "cuda":
            torch.cuda.synchronize()
        times.append((time.perf_counter() - start) / STEPS * 1e3)
    return times


def main():
    table, b_plain, b_gp = balgan_times()
    print(table)
    device = "cuda" if torch.cuda.is_available() else "cpu"
    t_plain, t_gp = torch_times(device)
    name = torch.cuda.get_device_name() if device == "cuda" else f"CPU, {torch.get_num_threads()} threads"
    print(f"PyTorch {torch.__version__} on {name}, batch {BATCH}")
    print()
    print("| step | balgan ms | PyTorch ms | balgan / PyTorch |")
    print("|---|---:|---:|---:|")
    print(f"| plain | {b_plain:.1f} | {t_plain:.1f} | {b_plain / t_plain:.2f} |")
    print(f"| WGAN-GP | {b_gp:.1f} | {t_gp:.1f} | {b_gp / t_gp:.2f} |")


if __name__ == "__main__":
    main()
