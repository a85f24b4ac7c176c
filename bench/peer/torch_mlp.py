#!/usr/bin/python3
"""Peer for bench:mlp: an MLP head (dim → hidden ReLU → dropout → classes) trained on cached
features with AdamW (weight decay 0.05), cross-entropy, shuffled minibatches — graft's `--head mlp`.
Same features file, batch size, threads and epochs as graft. Prints one JSON line: seconds per epoch
(the first epoch is warm-up and not counted) and final training loss."""
import argparse
import json
import time

import numpy as np
import torch

p = argparse.ArgumentParser()
p.add_argument("--x", required=True)
p.add_argument("--y", required=True)
p.add_argument("--threads", type=int, default=1)
p.add_argument("--batch", type=int, default=64)
p.add_argument("--epochs", type=int, default=6)
p.add_argument("--hidden", type=int, default=512)
p.add_argument("--lr", type=float, default=1e-3)
a = p.parse_args()
torch.set_num_threads(a.threads)
torch.manual_seed(0)
x = torch.from_numpy(np.load(a.x))
y = torch.from_numpy(np.load(a.y).astype(np.int64))
k = int(y.max()) + 1
m = torch.nn.Sequential(torch.nn.Linear(x.shape[1], a.hidden), torch.nn.ReLU(), torch.nn.Dropout(0.5), torch.nn.Linear(a.hidden, k))
opt = torch.optim.AdamW(m.parameters(), lr=a.lr, weight_decay=0.05)
loss_fn = torch.nn.CrossEntropyLoss()
times = []
for ep in range(a.epochs):
    t0 = time.perf_counter()
    perm = torch.randperm(x.shape[0])
    m.train()
    total = 0.0
    for s in range(0, x.shape[0], a.batch):
        idx = perm[s : s + a.batch]
        opt.zero_grad(set_to_none=True)
        loss = loss_fn(m(x[idx]), y[idx])
        loss.backward()
        opt.step()
        total += float(loss) * len(idx)
    times.append(time.perf_counter() - t0)
print(json.dumps({"torch": torch.__version__, "epoch_s": sum(times[1:]) / max(1, len(times) - 1), "n": int(x.shape[0]), "loss": total / x.shape[0]}))
