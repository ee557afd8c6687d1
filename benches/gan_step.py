"""The full GAN training steps of benches/gan_step.rs in PyTorch.

Times one full BAGAN-GP training step and one full SGBGAN training step with
the same layers as balgan's models (src/models/blocks.rs): n_critic critic
(discriminator) updates, each with the gradient penalty by double backward,
and 1 generator update, on random "real" images in [-1, 1] and random labels
(no data loading). The geometry follows balgan's: k4 s2 p1 stages halving the
side while it is even and above 4 (64 → 32, 16, 8, 4; 28 → 14, 7), stage
widths w, 2w, 2w, 4w (the last ones for fewer stages), the critic head's
hidden width 8w, self-attention after the first stage of side ≤ 16.

Sizes come from the same environment as the Rust bench (see benches/peer.py):
batch 128 at 64×64 with 3 timed steps, or with BALGAN_BENCH_QUICK=1 batch 16
at 32×32 with 2; BALGAN_BENCH_SIZE / _BATCH / _STEPS override them;
BALGAN_BENCH_SET sets width, latent, attention, n_critic (as `--set`);
BALGAN_BENCH_MODELS picks sgbgan and/or bagan-gp. One warm-up step per model
before timing. Prints ms/step, steps/s and peak GPU memory (CUDA), and the
RESULT lines benches/compare.py reads (`./run bench --compare` runs this
beside the Rust bench).

    python3 benches/gan_step.py
    BALGAN_BENCH_QUICK=1 python3 benches/gan_step.py
    python3 benches/gan_step.py --device cpu
"""

import os
import time

import peer
import torch
import torch.nn as nn
import torch.nn.functional as F

CLASSES = 10
SLOPE = 0.2
MODELS = {"sgbgan": "SGBGAN", "bagan-gp": "BAGAN-GP"}


class Geometry:
    """balgan's models::blocks::Geometry: the stage plan of a side and width."""

    def __init__(self, size, width, latent, attention):
        self.size, self.width, self.latent, self.attention = size, width, latent, attention
        self.sides = []
        s = size
        while s % 2 == 0 and s > 4:
            s //= 2
            self.sides.append(s)
        w = width
        base = [w, 2 * w, 2 * w, 4 * w]
        n = len(self.sides)
        self.widths = base[len(base) - n:] if n <= len(base) else [w] * (n - len(base)) + base
        self.base_side = self.sides[-1] if self.sides else size
        self.features = self.widths[-1] * self.base_side**2
        self.head = 8 * width
        self.attention_stage = next((i for i, s in enumerate(self.sides) if s <= 16), max(len(self.sides) - 1, 0))


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


class Generator(nn.Module):
    """balgan's ConditionalGenerator: decoder(z ⊙ e(y)). The decoder: Dense →
    LeakyReLU → reshape to the smallest map → ConvT k4 s2 p1 + BatchNorm +
    LeakyReLU per stage (reversed widths) → ConvT to 1 channel → tanh; with
    attention, SGBGAN's block on the map of the encoder block's side."""

    def __init__(self, g, attention):
        super().__init__()
        widths = list(reversed(g.widths))
        self.base = (widths[0], g.base_side)
        self.embed = nn.Embedding(CLASSES, g.latent)
        self.fc = nn.Linear(g.latent, widths[0] * g.base_side**2)
        at = None
        if attention:
            s_at = g.sides[g.attention_stage]
            at = next((k for k in range(len(widths)) if g.base_side << k == s_at), 0)
        layers = []
        for k in range(len(widths)):
            if k == at:
                layers.append(SelfAttention(widths[0] if k == 0 else widths[k]))
            if k + 1 < len(widths):
                layers += [
                    nn.ConvTranspose2d(widths[k], widths[k + 1], 4, 2, 1),
                    nn.BatchNorm2d(widths[k + 1]),
                    nn.LeakyReLU(SLOPE),
                ]
        layers += [nn.ConvTranspose2d(widths[-1], 1, 4, 2, 1), nn.Tanh()]
        self.body = nn.Sequential(*layers)

    def forward(self, z, y):
        h = F.leaky_relu(self.fc(self.embed(y) * z), SLOPE)
        return self.body(h.view(-1, self.base[0], self.base[1], self.base[1]))


class Discriminator(nn.Module):
    """balgan's ConditionalCritic: the encoder body (conv + LeakyReLU, or for
    SGBGAN conv to 2C channels + GLU, with the self-attention block), flatten,
    ⊗ the label path (Embedding 8w → Dense to the features → LeakyReLU), then
    Dense 8w → Dense 1 (no activation between, as the Keras reference)."""

    def __init__(self, g, glu, attention):
        super().__init__()
        layers = []
        c_in = 1
        for i, c_out in enumerate(g.widths):
            if glu:
                layers += [nn.Conv2d(c_in, 2 * c_out, 4, 2, 1), nn.GLU(dim=1)]  # a ⊗ σ(b) → c_out channels
            else:
                layers += [nn.Conv2d(c_in, c_out, 4, 2, 1), nn.LeakyReLU(SLOPE)]
            if attention and i == g.attention_stage:
                layers.append(SelfAttention(c_out))
            c_in = c_out
        self.features = nn.Sequential(*layers, nn.Flatten())
        self.label = nn.Sequential(nn.Embedding(CLASSES, g.head), nn.Linear(g.head, g.features), nn.LeakyReLU(SLOPE))
        self.head = nn.Sequential(nn.Linear(g.features, g.head), nn.Linear(g.head, 1))

    def forward(self, x, y):
        return self.head(self.features(x) * self.label(y))  # logits [B, 1]


def init_weights(m):
    if isinstance(m, (nn.Conv2d, nn.ConvTranspose2d)):
        nn.init.normal_(m.weight, 0.0, 0.02)
        nn.init.zeros_(m.bias)


def bce(logits, target):
    return F.binary_cross_entropy_with_logits(logits, torch.full_like(logits, target))


def gradient_penalty(d, real, fake, y):
    """mean_i (‖∇_x̂ D(x̂, y)_i‖ − 1)², x̂ = α·real + (1 − α)·fake, α ~ U(0, 1) per sample."""
    alpha = torch.rand(real.shape[0], 1, 1, 1, device=real.device)
    xh = (alpha * real + (1 - alpha) * fake).requires_grad_(True)
    (g,) = torch.autograd.grad(d(xh, y).sum(), xh, create_graph=True)
    norm = (g.pow(2).sum(dim=(1, 2, 3)) + 1e-12).sqrt()
    return ((norm - 1) ** 2).mean()


def make_step(name, device, batch, g, n_critic):
    """The models, their Adam optimisers and a closure running one full step:
    n_critic critic updates (balgan's per-batch schedule: the same real batch,
    fresh noise and labels) and one generator update."""
    sgbgan = name == "sgbgan"
    attention = sgbgan and g.attention
    lam = 5.0 if sgbgan else 10.0
    gen = Generator(g, attention).to(device)
    disc = Discriminator(g, glu=sgbgan, attention=attention).to(device)
    gen.apply(init_weights)
    disc.apply(init_weights)
    g_opt = torch.optim.Adam(gen.parameters(), lr=2e-4, betas=(0.5, 0.9))
    d_opt = torch.optim.Adam(disc.parameters(), lr=2e-4, betas=(0.5, 0.9))
    real = torch.rand(batch, 1, g.size, g.size, device=device) * 2 - 1
    y = torch.arange(batch, device=device) % CLASSES

    def labels():
        return torch.randint(0, CLASSES, (batch,), device=device)

    def noise():
        return torch.randn(batch, g.latent, device=device)

    def step():
        for p in disc.parameters():
            p.requires_grad_(True)
        for _ in range(n_critic):
            y_f = labels()
            y_wrong = (y + torch.randint(1, CLASSES, (batch,), device=device)) % CLASSES  # ≠ y
            with torch.no_grad():
                fake = gen(noise(), y_f)
            loss = (
                bce(disc(real, y), 1.0)
                + bce(disc(fake, y_f), 0.0)
                + bce(disc(real, y_wrong), 0.0)
                + lam * gradient_penalty(disc, real, fake, y)
            )
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


def main():
    args = peer.arguments("BAGAN-GP and SGBGAN full training steps in PyTorch (the peer of benches/gan_step.rs).").parse_args()
    device = peer.device(args)
    batch, size, steps = (16, 32, 2) if peer.quick() else (128, 64, 3)
    batch = peer.env_int("BALGAN_BENCH_BATCH", batch)
    size = peer.env_int("BALGAN_BENCH_SIZE", size)
    steps = peer.env_int("BALGAN_BENCH_STEPS", steps)
    s = peer.bench_set({"width": int, "latent": int, "attention": bool, "n_critic": int})
    g = Geometry(size, s.get("width", 64), s.get("latent", 128), s.get("attention", True))
    n_critic = max(s.get("n_critic", 5), 1)
    names = [n.strip() for n in os.environ.get("BALGAN_BENCH_MODELS", "sgbgan,bagan-gp").split(",") if n.strip()]
    for n in names:
        if n not in MODELS:
            raise SystemExit(f"BALGAN_BENCH_MODELS: the PyTorch peer has no model '{n}' (it has {', '.join(MODELS)})")

    rows = []
    for name in names:
        torch.manual_seed(7)
        step = make_step(name, device, batch, g, n_critic)
        step()  # warm-up (allocator, kernel selection, Adam state)
        peer.sync(device)
        if device == "cuda":
            torch.cuda.reset_peak_memory_stats()
        start = time.perf_counter()
        for _ in range(steps):
            step()
        peer.sync(device)
        ms = (time.perf_counter() - start) / steps * 1e3
        peak = f"{torch.cuda.max_memory_allocated() / 2**20:.0f} MiB" if device == "cuda" else "n/a (cpu)"
        rows.append((name, ms, peak))
        peer.result(f"gan_step.{name}.full_ms", ms, "ms")
        del step
        if device == "cuda":
            torch.cuda.empty_cache()

    peer.adapter_line(device)
    peer.config(
        "gan_step",
        size=size,
        batch=batch,
        classes=CLASSES,
        latent=g.latent,
        width=g.width,
        attention=g.attention,
        n_critic=n_critic,
        steps=steps,
    )
    print()
    print(
        f"GAN training steps ({size}×{size}×1, batch {batch}, {CLASSES} classes, latent {g.latent}, width {g.width}, "
        f"attention {'on' if g.attention else 'off'}) on {peer.describe(device)}, {steps} timed steps after 1 warm-up"
    )
    print()
    print("| step | ms/step | steps/s | peak memory |")
    print("|---|---:|---:|---:|")
    for name, ms, peak in rows:
        print(f"| {MODELS[name]} full step ({n_critic} D + 1 G) | {ms:.1f} | {1e3 / ms:.3f} | {peak} |")


if __name__ == "__main__":
    main()
