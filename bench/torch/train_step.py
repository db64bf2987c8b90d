"""PyTorch CPU side of bench/train-step.ts: milliseconds per training step and per forward of an IR model.

A training step is what our trainer does (src/train/trainer.ts): forward in training mode (dropout on), L_simple
(mean squared error against eps), backward, global gradient-norm clipping at 1, AdamW (lr 2e-4, betas 0.9/0.999,
eps 1e-8, weight decay 0). A forward is inference (eval mode, no_grad). Tensors are NCHW, PyTorch's native layout.

  /usr/bin/python3 bench/torch/train_step.py --dir DIR [--batch 32] [--forward-batch 64] [--threads 2]
      [--reps 10] [--target-s 10] [--single-over-s 20] [--train-only]
DIR holds ir.json and params.safetensors (bench/export-ir.ts writeModel). Prints one JSON line.

BLAS: the report names the library loaded. Debian's libblas.so.3 is the reference (netlib) BLAS unless OpenBLAS
is installed: about 20x slower matrix products (attention, linear layers); convolutions go through oneDNN either way.
To use OpenBLAS without installing it system-wide: LD_LIBRARY_PATH=<dir with its libblas.so.3>
OPENBLAS_NUM_THREADS=1 (torch's own 2 OpenMP threads call it; nested BLAS threads only oversubscribe 2 cores).

Repetitions: the first two calls are warmups; then up to --reps timed calls while their total stays under --target-s
(at least one). When the first call alone takes more than --single-over-s, it is the only, timed call.
"""

import argparse
import json
import os
import statistics
import sys
import time

import torch

sys.dont_write_bytecode = True  # no __pycache__ left in the source tree
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from ir_model import build  # noqa: E402


def time_calls(fn, reps, target_s, single_over_s):
    t0 = time.perf_counter()
    fn()
    first = time.perf_counter() - t0
    if first > single_over_s:
        return [first * 1000], True
    fn()  # a second warmup, as bench/train-step.ts does (onnxruntime settles its memory on its second run)
    samples = []
    while len(samples) < reps and (not samples or sum(samples) / 1000 < target_s):
        t0 = time.perf_counter()
        fn()
        samples.append((time.perf_counter() - t0) * 1000)
    return samples, False


def blas_library():
    """The BLAS shared library this process loaded (Debian's torch uses whatever libblas.so.3 resolves to: the
    slow reference BLAS unless OpenBLAS or BLIS is installed or put first on LD_LIBRARY_PATH)."""
    try:
        with open('/proc/self/maps', encoding='utf-8') as f:
            paths = {line.split()[-1] for line in f if 'blas' in line.split()[-1].lower()}
    except OSError:
        return 'unknown'
    for path in sorted(paths):
        if 'openblas' in path.lower():
            return f'OpenBLAS ({path})'
    return ', '.join(sorted(paths)) or 'none'


def main(argv):
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument('--dir', required=True)
    ap.add_argument('--batch', type=int, default=32)
    ap.add_argument('--forward-batch', type=int, default=64)
    ap.add_argument('--threads', type=int, default=2)
    ap.add_argument('--reps', type=int, default=10)
    ap.add_argument('--target-s', type=float, default=10)
    ap.add_argument('--single-over-s', type=float, default=20)
    ap.add_argument('--train-only', action='store_true', help='time the training step only (no forward)')
    args = ap.parse_args(argv)
    torch.set_num_threads(args.threads)  # Debian's torch defaults to one thread
    torch.manual_seed(0)

    model = build(f'{args.dir}/ir.json', f'{args.dir}/params.safetensors')
    if model.num_classes is not None:
        raise SystemExit('benchmark models are unconditional')
    shape = model.input_shape
    nchw = [shape[2], shape[0], shape[1]] if len(shape) == 3 else shape

    # The linear DDPM schedule in float64, as src/core/schedules.ts.
    betas = torch.linspace(1e-4, 0.02, 1000, dtype=torch.float64)
    abar = torch.cumprod(1 - betas, 0)

    def batch_inputs(b):
        x0 = torch.rand([b, *nchw]) * 2 - 1
        eps = torch.randn([b, *nchw])
        t = torch.randint(0, 1000, (b,))
        a = abar[t].float().reshape(b, *([1] * len(nchw)))
        return (a.sqrt() * x0 + (1 - a).sqrt() * eps), eps, t.float()

    xt, eps, t = batch_inputs(args.batch)
    opt = torch.optim.AdamW(model.parameters(), lr=2e-4, betas=(0.9, 0.999), eps=1e-8, weight_decay=0)

    def train_step():
        model.train()
        opt.zero_grad(set_to_none=True)
        out = model(xt, t, channels_last=False)
        loss = (out - eps).square().mean()  # per-sample means averaged over the batch (equal sizes)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        opt.step()
        return loss.item()

    fx, _, ft = batch_inputs(args.forward_batch)

    def forward():
        model.eval()
        with torch.no_grad():
            model(fx, ft, channels_last=False)

    train, train_single = time_calls(train_step, args.reps, args.target_s, args.single_over_s)
    blas = blas_library()
    fwd, fwd_single = ([], False) if args.train_only else time_calls(forward, args.reps, args.target_s,
                                                                     args.single_over_s)
    print(json.dumps({
        'engine': f'torch {torch.__version__} cpu, {torch.get_num_threads()} threads',
        'blas': blas,
        'params': sum(p.numel() for p in model.parameters()),
        'train_ms': statistics.median(train),
        'train_samples': train,
        'train_single': train_single,
        'forward_ms': statistics.median(fwd) if fwd else None,
        'forward_samples': fwd,
        'forward_single': fwd_single,
    }))
    return 0


if __name__ == '__main__':
    sys.exit(main(sys.argv[1:]))
