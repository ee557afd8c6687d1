"""The critic step of benches/critic_step.rs in PyTorch.

One critic update of a DCGAN-style critic on 28×28×1 images (conv 1→64 k4 s2
p1 → LeakyReLU 0.2 → conv 64→128 k4 s2 p1 → LeakyReLU 0.2 → flatten →
linear 6272→1; Adam), plain (mean D(fake) − mean D(real)) and WGAN-GP
(+ 10·GP by double backward). Sizes from the same environment as the Rust
bench (see benches/peer.py): batch 128 and 10 timed steps, or with
BALGAN_BENCH_QUICK=1 batch 16 and 3; BALGAN_BENCH_BATCH / _STEPS override
them. Prints ms/step, the GP/plain ratio and the RESULT lines
benches/compare.py reads (`./run bench --compare` runs this beside the Rust bench).

    python3 benches/critic_step.py
    BALGAN_BENCH_QUICK=1 python3 benches/critic_step.py
"""

import time

import peer
import torch
import torch.nn as nn


def main():
    args = peer.arguments("The critic step of benches/critic_step.rs in PyTorch.").parse_args()
    device = peer.device(args)
    batch, steps = (16, 3) if peer.quick() else (128, 10)
    batch = peer.env_int("BALGAN_BENCH_BATCH", batch)
    steps = peer.env_int("BALGAN_BENCH_STEPS", steps)
    torch.manual_seed(7)
    critic = nn.Sequential(
        nn.Conv2d(1, 64, 4, 2, 1),
        nn.LeakyReLU(0.2),
        nn.Conv2d(64, 128, 4, 2, 1),
        nn.LeakyReLU(0.2),
        nn.Flatten(),
        nn.Linear(128 * 7 * 7, 1),
    ).to(device)
    opt = torch.optim.Adam(critic.parameters(), lr=1e-4, betas=(0.0, 0.9))
    real = torch.rand(batch, 1, 28, 28, device=device) * 2 - 1
    fake = torch.rand(batch, 1, 28, 28, device=device) * 2 - 1

    def step(with_gp):
        loss = critic(fake).mean() - critic(real).mean()
        if with_gp:
            alpha = torch.rand(batch, 1, 1, 1, device=device)
            xh = (alpha * real + (1 - alpha) * fake).requires_grad_(True)
            (g,) = torch.autograd.grad(critic(xh).sum(), xh, create_graph=True)
            norm = (g.pow(2).sum(dim=(1, 2, 3)) + 1e-12).sqrt()
            loss = loss + 10.0 * ((norm - 1) ** 2).mean()
        opt.zero_grad()
        loss.backward()
        opt.step()

    times = []
    for with_gp in (False, True):
        step(with_gp)  # warm-up
        peer.sync(device)
        start = time.perf_counter()
        for _ in range(steps):
            step(with_gp)
        peer.sync(device)
        times.append((time.perf_counter() - start) / steps * 1e3)
    plain, gp = times
    peer.result("critic_step.plain_ms", plain, "ms")
    peer.result("critic_step.wgan_gp_ms", gp, "ms")
    peer.result("critic_step.gp_ratio", gp / plain, "x")
    peer.adapter_line(device)
    peer.config("critic_step", size=28, batch=batch, steps=steps)
    print()
    print(f"critic step (DCGAN critic, 28×28×1, batch {batch}) on {peer.describe(device)}")
    print()
    print("| step | ms/step | steps/s |")
    print("|---|---:|---:|")
    print(f"| plain (forward, backward, Adam) | {plain:.1f} | {1e3 / plain:.2f} |")
    print(f"| WGAN-GP (+ double backward) | {gp:.1f} | {1e3 / gp:.2f} |")
    print()
    print(f"GP/plain: {gp / plain:.2f}×")


if __name__ == "__main__":
    main()
