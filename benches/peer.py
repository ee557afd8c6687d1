"""What the PyTorch peers of the Rust benches share.

Each peer (gan_step.py, critic_step.py, matmul.py, dispatch.py) times in
PyTorch what the Rust bench of the same name times in balgan, with the same
sizes, read from the same environment variables:

    BALGAN_BENCH_QUICK=1    the short sizes
    BALGAN_BENCH_SIZE, BALGAN_BENCH_BATCH, BALGAN_BENCH_STEPS, BALGAN_BENCH_SET, BALGAN_BENCH_MODELS

and prints, beside its human table, the machine-readable lines that
benches/compare.py reads:

    CONFIG <bench> key=value ...     the sizes it ran (must equal the Rust bench's)
    RESULT <name> <value> <unit>     one figure

The device is CUDA where PyTorch sees one, else the CPU with one thread per
core the process may run on (--device forces one). Needs PyTorch; a peer
without it exits with status 3 and says how to install it.
"""

import argparse
import os
import sys

INSTALL = "python3 -m venv /tmp/peer && /tmp/peer/bin/pip install torch numpy scipy"

try:
    import torch
except ImportError:
    sys.stderr.write(
        f"{os.path.basename(sys.argv[0])}: PyTorch is not installed for {sys.executable}; "
        f"install it with `{INSTALL}` and set BALGAN_PEER_PYTHON=/tmp/peer/bin/python\n"
    )
    sys.exit(3)


def quick():
    return os.environ.get("BALGAN_BENCH_QUICK") == "1"


def env_int(name, default):
    """A positive integer from the environment, else `default` (a bad value stops the peer)."""
    raw = os.environ.get(name)
    if raw is None:
        return default
    try:
        value = int(raw.strip())
    except ValueError:
        value = 0
    if value <= 0:
        sys.exit(f"{name}={raw}: expected a positive integer")
    return value


def bench_set(known):
    """BALGAN_BENCH_SET ("width=8,latent=32,attention=false") as a dict, checked
    against `known` {key: type}: a setting the peer does not model stops it, so
    that it never times another model than the Rust side."""
    out = {}
    for kv in filter(None, (s.strip() for s in os.environ.get("BALGAN_BENCH_SET", "").split(","))):
        if "=" not in kv:
            sys.exit(f"BALGAN_BENCH_SET: '{kv}' is not key=value")
        k, v = (s.strip() for s in kv.split("=", 1))
        k = k.replace("-", "_")
        if k not in known:
            sys.exit(f"BALGAN_BENCH_SET: the PyTorch peer does not model '{k}' (it knows {sorted(known)})")
        if known[k] is bool:
            if v not in ("true", "false"):
                sys.exit(f"BALGAN_BENCH_SET: {k} must be true or false, not '{v}'")
            out[k] = v == "true"
        else:
            out[k] = known[k](v)
    return out


def arguments(description):
    parser = argparse.ArgumentParser(description=description)
    parser.add_argument("--device", choices=("cpu", "cuda"), help="force the device (default: cuda if available)")
    return parser


def device(args):
    """The device to run on; on the CPU, torch uses one thread per available core."""
    dev = args.device or ("cuda" if torch.cuda.is_available() else "cpu")
    if dev == "cuda" and not torch.cuda.is_available():
        sys.exit(f"{os.path.basename(sys.argv[0])}: --device cuda, but this PyTorch sees no CUDA device")
    try:
        cores = len(os.sched_getaffinity(0))
    except AttributeError:
        cores = os.cpu_count() or 1
    torch.set_num_threads(cores)
    return dev


def describe(dev):
    if dev == "cuda":
        return f"PyTorch {torch.__version__} on {torch.cuda.get_device_name()} (CUDA)"
    return f"PyTorch {torch.__version__} on the CPU, {torch.get_num_threads()} threads"


def sync(dev):
    if dev == "cuda":
        torch.cuda.synchronize()


def result(name, value, unit):
    print(f"RESULT {name} {value:.6f} {unit}")


def config(bench, **pairs):
    """`CONFIG <bench> k=v ...`, values written as the Rust benches write them."""
    text = " ".join(f"{k}={str(v).lower() if isinstance(v, bool) else v}" for k, v in pairs.items())
    print(f"CONFIG {bench} {text}")


def adapter_line(dev):
    print(f"ADAPTER {describe(dev)}")
