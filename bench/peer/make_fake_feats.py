#!/usr/bin/python3
"""Write random, learnable "features" for bench/peer/sklearn_head.py tests.

Each class gets a random mean in feature space; rows are mean + unit noise, non-negative
like post-ReLU pooled CNN features. Writes OUT/{train,val}_{X,y}.npy (X float32, y int64).
  make_fake_feats.py OUT [--n-train 2000] [--n-val 500] [--dim 1280] [--classes 10]
                         [--sep 0.15] [--seed 0]
"""
import argparse
import os

import numpy as np


def main():
    p = argparse.ArgumentParser()
    p.add_argument("out")
    p.add_argument("--n-train", type=int, default=2000)
    p.add_argument("--n-val", type=int, default=500)
    p.add_argument("--dim", type=int, default=1280)
    p.add_argument("--classes", type=int, default=10)
    p.add_argument("--sep", type=float, default=0.15, help="class-mean spread; smaller = harder")
    p.add_argument("--seed", type=int, default=0)
    a = p.parse_args()

    rng = np.random.default_rng(a.seed)
    means = rng.normal(0.0, a.sep, (a.classes, a.dim)).astype(np.float32)

    def draw(n):
        y = rng.integers(0, a.classes, n)
        x = means[y] + rng.standard_normal((n, a.dim), dtype=np.float32)
        return np.maximum(x, 0.0).astype(np.float32), y.astype(np.int64)

    os.makedirs(a.out, exist_ok=True)
    for split, n in (("train", a.n_train), ("val", a.n_val)):
        x, y = draw(n)
        np.save(os.path.join(a.out, f"{split}_X.npy"), x)
        np.save(os.path.join(a.out, f"{split}_y.npy"), y)
        print(f"{split}: X {x.shape} y {y.shape} -> {a.out}")


if __name__ == "__main__":
    main()
