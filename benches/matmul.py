"""The products of benches/matmul.rs in PyTorch: GFLOP/s of square products
(256³, 1024³, and 2048³ unless BALGAN_BENCH_QUICK=1), the three products of a
batch-128 linear layer, and deep split-K products (M = N = 64, K = 32768).
Each case is warmed up, probed for an iteration count that fills the time
budget (0.25 s quick, 1 s full), then timed. Prints the table and a line
`RESULT matmul.<M>x<N>x<K>.<product> <GFLOP/s> GFLOP/s` per case (`ab`,
`atb`, `abt`: which operand is transposed), as the Rust bench does.

    python3 benches/matmul.py
    BALGAN_BENCH_QUICK=1 python3 benches/matmul.py
"""

import time

import peer
import torch


def cases(quick):
    """(label, product, m, n, k, trans_a, trans_b), the Rust bench's list."""
    out = []
    for s in [256, 1024] + ([] if quick else [2048]):
        out.append(("square", "ab", s, s, s, False, False))
    for d_in, d_out in [(784, 1024), (1024, 1024)]:
        label = f"linear {d_in}→{d_out}, batch 128"
        out.append((label, "ab", 128, d_out, d_in, False, False))  # y = x·W
        out.append((label, "atb", d_in, d_out, 128, True, False))  # dW = xᵀ·dy
        out.append((label, "abt", 128, d_in, d_out, False, True))  # dx = dy·Wᵀ
    out.append(("split-K, A [32768, 64]", "atb", 64, 64, 32768, True, False))
    out.append(("split-K, A [64, 32768]", "ab", 64, 64, 32768, False, False))
    return out


def main():
    args = peer.arguments("The products of benches/matmul.rs in PyTorch.").parse_args()
    device = peer.device(args)
    quick = peer.quick()
    target, probe, min_iters, max_iters = (0.25, 0.05, 2, 5000) if quick else (1.0, 0.1, 3, 20000)
    rows = []
    for label, product, m, n, k, ta, tb in cases(quick):
        a = torch.randn((k, m) if ta else (m, k), device=device)
        b = torch.randn((n, k) if tb else (k, n), device=device)

        def call():
            return torch.mm(a.t() if ta else a, b.t() if tb else b)

        call()
        peer.sync(device)
        iters = 1
        while True:
            start = time.perf_counter()
            for _ in range(iters):
                call()
            peer.sync(device)
            elapsed = time.perf_counter() - start
            if elapsed >= probe or iters >= max_iters:
                break
            iters = min(iters * 4, max_iters)
        iters = int(min(max(target / max(elapsed / iters, 1e-9), min_iters), max_iters))
        start = time.perf_counter()
        for _ in range(iters):
            call()
        peer.sync(device)
        per = (time.perf_counter() - start) / iters
        gflops = 2.0 * m * n * k / per / 1e9
        peer.result(f"matmul.{m}x{n}x{k}.{product}", gflops, "GFLOP/s")
        rows.append(f"| {label} | {product} | {m}×{n}×{k} | {iters} | {per * 1e3:.3f} | {gflops:.2f} |")
    peer.adapter_line(device)
    peer.config("matmul", quick=quick)
    print(f"\nmatmul on {peer.describe(device)}{' (quick)' if quick else ''}\n")
    print("| shape | product | M×N×K | iters | ms/call | GFLOP/s |")
    print("|---|---|---:|---:|---:|---:|")
    for r in rows:
        print(r)


if __name__ == "__main__":
    main()
