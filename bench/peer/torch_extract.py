#!/usr/bin/python3
"""Peer benchmark: torchvision CNN feature extraction throughput (images/s) on CPU.

Builds a randomly initialised torchvision model (weights=None, nothing is downloaded), drops
its classifier so the output is the globally pooled feature vector, and times as many batches
as fit in --seconds. Prints exactly one JSON line on stdout; diagnostics go to stderr.

Run with Debian's /usr/bin/python3 (python3-torch, python3-torchvision), plain for the
"stock" figure or through bench/peer/run_tuned.sh for the jemalloc-tuned one.
"""
import argparse
import json
import resource
import sys
import time

import numpy as np
import torch
import torchvision

ARCHS = {
    # arch: (input size, feature dim)
    "mobilenet_v2": (224, 1280),
    "resnet18": (224, 512),
    "resnet50": (224, 2048),
    "inception_v3": (299, 2048),
}


def build_extractor(arch):
    """torchvision model up to its globally pooled features (classifier replaced by Identity)."""
    tvm = torchvision.models
    if arch == "mobilenet_v2":
        m = tvm.mobilenet_v2(weights=None)
        m.classifier = torch.nn.Identity()  # features -> adaptive_avg_pool -> flatten -> [B,1280]
    elif arch == "resnet18":
        m = tvm.resnet18(weights=None)
        m.fc = torch.nn.Identity()
    elif arch == "resnet50":
        m = tvm.resnet50(weights=None)
        m.fc = torch.nn.Identity()
    elif arch == "inception_v3":
        # No aux head: it is only used in training mode and is not part of the feature path.
        m = tvm.inception_v3(weights=None, aux_logits=False, init_weights=True)
        m.fc = torch.nn.Identity()  # avgpool -> dropout (no-op in eval) -> flatten -> [B,2048]
    else:
        raise SystemExit(f"unknown arch {arch}")
    return m.eval()


def load_batch(path, batch, size, rng):
    """[batch,3,size,size] float32 NCHW tensor (a view; layout is fixed by the caller)."""
    if path:
        a = np.load(path)
        if a.dtype != np.float32:
            a = a.astype(np.float32)
        if a.ndim != 4 or a.shape[3] != 3:
            raise SystemExit(f"--input must be float32 NHWC [B,H,W,3], got {a.shape}")
        if a.shape[1] != size or a.shape[2] != size:
            raise SystemExit(f"--input spatial size {a.shape[1]}x{a.shape[2]} != {size}x{size}")
        if a.shape[0] < batch:  # repeat rows to fill the batch
            reps = -(-batch // a.shape[0])
            a = np.concatenate([a] * reps, axis=0)
        a = np.ascontiguousarray(a[:batch])
        return torch.from_numpy(a).permute(0, 3, 1, 2)
    x = rng.standard_normal((batch, 3, size, size), dtype=np.float32)
    return torch.from_numpy(x)


def main():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--arch", required=True, choices=sorted(ARCHS))
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--batch", type=int, default=16)
    p.add_argument("--seconds", type=float, default=10.0)
    p.add_argument("--layout", choices=["channels_last", "nchw"], default="channels_last")
    p.add_argument("--input", default=None, help="float32 NHWC [B,H,W,3] .npy, preprocessed")
    p.add_argument("--warmup", type=int, default=3, help="untimed batches before timing")
    p.add_argument("--seed", type=int, default=0)
    a = p.parse_args()

    torch.set_num_threads(a.threads)
    torch.manual_seed(a.seed)
    size, dim = ARCHS[a.arch]
    model = build_extractor(a.arch)
    x = load_batch(a.input, a.batch, size, np.random.default_rng(a.seed))
    if a.layout == "channels_last":
        model = model.to(memory_format=torch.channels_last)
        x = x.contiguous(memory_format=torch.channels_last)
    else:
        x = x.contiguous()

    with torch.inference_mode():
        for _ in range(max(a.warmup, 1)):
            y = model(x)
        if tuple(y.shape) != (a.batch, dim):
            raise SystemExit(f"unexpected feature shape {tuple(y.shape)}, want {(a.batch, dim)}")
        n = 0
        c0 = time.process_time()
        f0 = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
        t0 = time.perf_counter()
        elapsed = 0.0
        while n == 0 or elapsed < a.seconds:
            model(x)
            n += 1
            elapsed = time.perf_counter() - t0

    cpu = time.process_time() - c0
    faults = resource.getrusage(resource.RUSAGE_SELF).ru_minflt - f0
    img_s = n * a.batch / elapsed
    # cpu/wall well below --threads means the process did not get its cores (a busy machine).
    print(f"torch_extract: {a.arch} {n} batches in {elapsed:.3f}s, cpu/wall {cpu / elapsed:.2f}, "
          f"page faults/batch {faults / n:.0f}, "
          f"threads={torch.get_num_threads()} feat={dim}", file=sys.stderr)
    print(json.dumps({
        "arch": a.arch,
        "threads": a.threads,
        "layout": a.layout,
        "batch": a.batch,
        "img_s": round(img_s, 2),
        "torch": torch.__version__,
    }))


if __name__ == "__main__":
    main()
