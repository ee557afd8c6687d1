"""The full GAN training steps of benches/gan_step.rs in PyTorch, and the ratio.

Times one full BAGAN-GP training step and one full SGBGAN training step in
PyTorch with the same layers as balgan's bench: 5 critic (discriminator)
updates and 1 generator update, each on a fresh batch of random "real" images
in [-1, 1] (64×64×1) and random labels (10 classes, latent 128; no data
loading). Prints ms/step, steps/s and the peak GPU memory
(torch.cuda.max_memory_allocated) for each; unless --no-rust, first runs
balgan's bench (cargo bench --bench gan_step) and prints balgan / PyTorch for
each step. Device: CUDA if present, else CPU (--device forces one). One
warm-up step per model before timing. Needs PyTorch; exits with a message
where it is missing.

    python3 benches/gan_step.py                  # batch 128, 10 steps
    python3 benches/gan_step.py --quick          # batch 16, 3 steps (or BALGAN_BENCH_QUICK=1)
    python3 benches/gan_step.py --device cpu     # force the device (cpu|cuda)
    python3 benches/gan_step.py --no-rust        # PyTorch only, no cargo bench
"""

import argparse
import os
import re
import subprocess
import sys
import time

try:
    import torch
    import torch.nn as nn
    import torch.nn.functional as F
except ImportError:
    sys.exit("gan_step.py: PyTorch is not installed (pip install torch); nothing to compare")

CLASSES, LATENT, SIDE = 10, 128, 64
NAMES = ("BAGAN-GP", "SGBGAN")


# ----------------------------------------------------------------------------
# balgan's side


def balgan_times(quick):
    """Runs cargo bench --bench gan_step; returns (its output, {name: ms})."""
    env = dict(os.environ)
    if quick:
        env["BALGAN_BENCH_QUICK"] = "1"
    run = subprocess.run(["cargo", "bench", "--bench", "gan_step"], capture_output=True, text=True, env=env)
    if run.returncode != 0:
        sys.stderr.write(run.stderr)
        sys.exit(f"gan_step.py: cargo bench --bench gan_step failed (exit {run.returncode}); --no-rust skips it")
    out = run.stdout
    rows = dict(re.findall(r"^\| (BAGAN-GP|SGBGAN) full step[^|]*\|\s*([0-9.]+)\s*\|", out, re.M))
    missing = [n for n in NAMES if n not in rows]
    if missing:
        print(out)
        sys.exit(f"gan_step.py: no '| {missing[0]} full step | ms | steps/s |' row in the cargo bench output")
    return out, {n: float(rows[n]) for n in NAMES}


# ----------------------------------------------------------------------------
# The models (NCHW; k4 s2 p1 convs halve the side, k4 s2 p1 transposed convs double it)


class SelfAttention(nn.Module):
    """SAGAN self-attention, y = γ·o + x (as balgan's nn::SelfAttention).

    With x flattened to N = H·W positions x_1 … x_N:
      s_ij = f(x_i)ᵀ g(x_j),  β_{j,i} = softmax_i(s_ij),  o_j = v(Σ_i β_{j,i} h(x_i)).
    """

    def __init__(self, c):
        super().__init__()
        self.key = nn.Conv2d(c, max(c // 8, 1), 1)  # f
        self.query = nn.Conv2d(c, max(c // 8, 1), 1)  # g
        self.value = nn.Conv2d(c, max(c // 2, 1), 1)  # h
        self.out = nn.Conv2d(max(c // 2, 1), c, 1)  # v
        self.gamma = nn.Parameter(torch.zeros(1))

    def forward(self, x):
        b, c, h, w = x.shape
        f = self.key(x).flatten(2)  # [B, C/8, N]
        g = self.query(x).flatten(2)  # [B, C/8, N]
        hx = self.value(x).flatten(2)  # [B, C/2, N]
        s = torch.bmm(g.transpose(1, 2), f)  # [B, N, N], s[b, j, i] = s_ij
        beta = torch.softmax(s, dim=-1)  # over the attended positions i
        o = torch.bmm(hx, beta.transpose(1, 2))  # [B, C/2, N], o[:, :, j] = Σ_i β_{j,i} h(x_i)
        o = self.out(o.view(b, -1, h, w))  # [B, C, H, W]
        return self.gamma * o + x


def up(c_in, c_out):
    """ConvT k4 s2 p1 + BatchNorm + LeakyReLU(0.2): doubles the side."""
    return [nn.ConvTranspose2d(c_in, c_out, 4, 2, 1), nn.BatchNorm2d(c_out), nn.LeakyReLU(0.2)]


class Generator(nn.Module):
    """BAGAN-GP's generator; with attention=True, SGBGAN's SA-GVAE decoder
    (a self-attention block after the second ConvT block, at 16×16×128)."""

    def __init__(self, attention):
        super().__init__()
        self.embed = nn.Embedding(CLASSES, LATENT)
        self.fc = nn.Linear(LATENT, 4 * 4 * 256)
        layers = up(256, 128) + up(128, 128)  # 4 → 8 → 16
        if attention:
            layers.append(SelfAttention(128))
        layers += up(128, 64) + [nn.ConvTranspose2d(64, 1, 4, 2, 1), nn.Tanh()]  # 16 → 32 → 64
        self.body = nn.Sequential(*layers)

    def forward(self, z, y):
        h = F.leaky_relu(self.fc(self.embed(y) * z), 0.2)  # [B, 4096]
        return self.body(h.view(-1, 256, 4, 4))  # [B, 1, 64, 64]


class Discriminator(nn.Module):
    """BAGAN-GP's discriminator (conv + LeakyReLU); with sgbgan=True, SGBGAN's
    (conv to 2C channels + GLU, a self-attention block after the second GLU
    conv at 16×16×128). Both: flatten 4096 ⊗ label path, Dense 512, Dense 1."""

    def __init__(self, sgbgan):
        super().__init__()
        layers = []
        for i, (c_in, c_out) in enumerate([(1, 64), (64, 128), (128, 128), (128, 256)]):  # 64 → 32 → 16 → 8 → 4
            if sgbgan:
                layers += [nn.Conv2d(c_in, 2 * c_out, 4, 2, 1), nn.GLU(dim=1)]  # a ⊗ σ(b) → c_out channels
                if i == 1:
                    layers.append(SelfAttention(128))
            else:
                layers += [nn.Conv2d(c_in, c_out, 4, 2, 1), nn.LeakyReLU(0.2)]
        self.features = nn.Sequential(*layers, nn.Flatten())  # [B, 256·4·4 = 4096]
        self.label = nn.Sequential(nn.Embedding(CLASSES, 512), nn.Linear(512, 4096), nn.LeakyReLU(0.2))
        self.head = nn.Sequential(nn.Linear(4096, 512), nn.Linear(512, 1))  # no activation between (Keras reference)

    def forward(self, x, y):
        return self.head(self.features(x) * self.label(y))  # logits [B, 1]


def init_weights(m):
    if isinstance(m, (nn.Conv2d, nn.ConvTranspose2d)):
        nn.init.normal_(m.weight, 0.0, 0.02)
        nn.init.zeros_(m.bias)


# ----------------------------------------------------------------------------
# One full step: 5 critic updates + 1 generator update


def bce(logits, target):
    return F.binary_cross_entropy_with_logits(logits, torch.full_like(logits, target))


def gradient_penalty(d, real, fake, y):
    """mean_i (‖∇_x̂ D(x̂, y)_i‖ − 1)², x̂ = α·real + (1 − α)·fake, α ~ U(0, 1) per sample."""
    alpha = torch.rand(real.shape[0], 1, 1, 1, device=real.device)
    xh = (alpha * real + (1 - alpha) * fake).requires_grad_(True)
    g, = torch.autograd.grad(d(xh, y).sum(), xh, create_graph=True)
    norm = (g.pow(2).sum(dim=(1, 2, 3)) + 1e-12).sqrt()
    return ((norm - 1) ** 2).mean()


def make_step(name, device, batch):
    """The models, their Adam optimisers and a closure running one full step."""
    sgbgan = name == "SGBGAN"
    lam = 5.0 if sgbgan else 10.0
    gen = Generator(attention=sgbgan).to(device)
    disc = Discriminator(sgbgan=sgbgan).to(device)
    gen.apply(init_weights)
    disc.apply(init_weights)
    g_opt = torch.optim.Adam(gen.parameters(), lr=2e-4, betas=(0.5, 0.9))
    d_opt = torch.optim.Adam(disc.parameters(), lr=2e-4, betas=(0.5, 0.9))

    def labels():
        return torch.randint(0, CLASSES, (batch,), device=device)

    def noise():
        return torch.randn(batch, LATENT, device=device)

    def step():
        for p in disc.parameters():
            p.requires_grad_(True)
        for _ in range(5):  # critic updates, each on a fresh batch
            real = torch.rand(batch, 1, SIDE, SIDE, device=device) * 2 - 1
            y = labels()
            y_f = labels()
            y_wrong = (y + torch.randint(1, CLASSES, (batch,), device=device)) % CLASSES  # ≠ y
            with torch.no_grad():
                fake = gen(noise(), y_f)
            loss = (bce(disc(real, y), 1.0) + bce(disc(fake, y_f), 0.0) + bce(disc(real, y_wrong), 0.0)
                    + lam * gradient_penalty(disc, real, fake, y))
            d_opt.zero_grad(set_to_none=True)
            loss.backward()
            d_opt.step()
        for p in disc.parameters():  # the generator update needs no critic weight gradients
            p.requires_grad_(False)
        y_f = labels()
        loss = bce(disc(gen(noise(), y_f), y_f), 1.0)
        g_opt.zero_grad(set_to_none=True)
        loss.backward()
        g_opt.step()

    return step


def sync(device):
    if device == "cuda":
        torch.cuda.synchronize()


def torch_times(device, batch, steps):
    """{name: (ms per full step, peak memory string)}."""
    results = {}
    for name in NAMES:
        torch.manual_seed(7)
        step = make_step(name, device, batch)
        step()  # warm-up (allocator, cuDNN/kernel selection, Adam state)
        sync(device)
        if device == "cuda":
            torch.cuda.reset_peak_memory_stats()
        start = time.perf_counter()
        for _ in range(steps):
            step()
        sync(device)
        ms = (time.perf_counter() - start) / steps * 1e3
        peak = f"{torch.cuda.max_memory_allocated() / 2**20:.0f} MiB" if device == "cuda" else "n/a (cpu)"
        results[name] = (ms, peak)
        del step
        if device == "cuda":
            torch.cuda.empty_cache()
    return results


def main():
    parser = argparse.ArgumentParser(description="BAGAN-GP and SGBGAN full training steps in PyTorch vs balgan.")
    parser.add_argument("--quick", action="store_true", help="batch 16, 3 steps (as BALGAN_BENCH_QUICK=1)")
    parser.add_argument("--device", choices=("cpu", "cuda"), help="force the device (default: cuda if available)")
    parser.add_argument("--no-rust", action="store_true", help="skip cargo bench --bench gan_step")
    args = parser.parse_args()
    quick = args.quick or os.environ.get("BALGAN_BENCH_QUICK") == "1"
    batch, steps = (16, 3) if quick else (128, 10)
    device = args.device or ("cuda" if torch.cuda.is_available() else "cpu")
    if device == "cuda" and not torch.cuda.is_available():
        sys.exit("gan_step.py: --device cuda, but this PyTorch sees no CUDA device")

    balgan = None
    if not args.no_rust:
        table, balgan = balgan_times(quick)
        print(table)

    results = torch_times(device, batch, steps)
    name = torch.cuda.get_device_name() if device == "cuda" else f"CPU, {torch.get_num_threads()} threads"
    print(f"PyTorch {torch.__version__} on {name}, batch {batch}, {steps} timed steps after 1 warm-up")
    print()
    print("| step | ms/step | steps/s | peak memory |")
    print("|---|---:|---:|---:|")
    for n in NAMES:
        ms, peak = results[n]
        print(f"| {n} full step (5 D + 1 G) | {ms:.1f} | {1e3 / ms:.2f} | {peak} |")

    if balgan is not None:
        print()
        print("| step | balgan ms | PyTorch ms | balgan / PyTorch |")
        print("|---|---:|---:|---:|")
        for n in NAMES:
            b, t = balgan[n], results[n][0]
            print(f"| {n} full step | {b:.1f} | {t:.1f} | {b / t:.2f} |")


if __name__ == "__main__":
    main()
