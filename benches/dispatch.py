"""The chains of benches/dispatch.rs in PyTorch: the cost of one tiny op.

`x ← (x·1.0001) + 0` repeated on 256 elements (10,000 times, and 250 times)
and on 65,536 elements (1,000 times, 250 with BALGAN_BENCH_QUICK=1), and a
tiny op followed by reading its one value back (200 times, 50 quick); each
the median of 5 runs (3 quick). Prints µs per op and a line
`RESULT dispatch.<workload> <µs> µs/dispatch` per workload, as the Rust bench
does (there an op is one dispatch).

    python3 benches/dispatch.py
    BALGAN_BENCH_QUICK=1 python3 benches/dispatch.py
"""

import statistics
import time

import peer
import torch


def chain(device, elements, reps):
    x = torch.ones(elements, device=device)
    peer.sync(device)
    start = time.perf_counter()
    for _ in range(reps):
        x = x.mul(1.0001).add(0.0)
    peer.sync(device)
    return (time.perf_counter() - start) * 1e6 / (2 * reps)


def round_trips(device, reps):
    x = torch.zeros(1, device=device)
    start = time.perf_counter()
    for i in range(reps):
        x = x.add(1.0)
        if x.item() != i + 1:
            raise SystemExit(f"dispatch.py: round trip {i} read {x.item()}")
    return (time.perf_counter() - start) * 1e6 / reps


def main():
    args = peer.arguments("The chains of benches/dispatch.rs in PyTorch.").parse_args()
    device = peer.device(args)
    quick = peer.quick()
    scale, trials = (4, 3) if quick else (1, 5)
    chain(device, 256, 100)  # warm-up
    round_trips(device, 5)
    work = [
        ("chain_256", "10000× (mul, add), 256 elements", lambda: chain(device, 256, 10_000)),
        ("chain_256_one_batch", "250× (mul, add), 256 elements", lambda: chain(device, 256, 250)),
        ("chain_65536", f"{1000 // scale}× (mul, add), 65536 elements", lambda: chain(device, 65_536, 1_000 // scale)),
        ("round_trip", f"{200 // scale}× (add, item()), 1 element", lambda: round_trips(device, 200 // scale)),
    ]
    rows = []
    for key, label, run in work:
        us = statistics.median(run() for _ in range(trials))
        peer.result(f"dispatch.{key}", us, "µs/dispatch")
        rows.append(f"| {label} | {us:.2f} |")
    peer.adapter_line(device)
    peer.config(
        "dispatch",
        chain_256=10000,
        chain_256_one_batch=250,
        chain_65536=1000 // scale,
        round_trip=200 // scale,
        trials=trials,
    )
    print(f"\ntiny ops on {peer.describe(device)}{' (quick)' if quick else ''} (median of {trials} runs)\n")
    print("| workload | µs/op |")
    print("|---|---:|")
    for r in rows:
        print(r)


if __name__ == "__main__":
    main()
