#!/usr/bin/python3
"""Peer benchmark: training throughput of MobileNetV2's tail (the last --blocks inverted-residual
blocks + 1x1 conv to 1280 + pool + new linear head) on cached activations, like graft's
`finetune --unfreeze blocks+1`: --blocks 1 on [160,7,7], 4 on [96,14,14], all on [3,224,224]
images (the whole network). BatchNorm in inference mode with frozen affine parameters (graft's
default, the Keras guide rule). AdamW, cross-entropy. Prints one JSON line."""
import argparse
import json
import time

import torch
import torchvision

p = argparse.ArgumentParser()
p.add_argument("--threads", type=int, default=1)
p.add_argument("--batch", type=int, default=16)
p.add_argument("--seconds", type=float, default=10)
p.add_argument("--layout", default="channels_last", choices=["channels_last", "nchw"])
p.add_argument("--classes", type=int, default=10)
p.add_argument("--blocks", default="1", choices=["1", "4", "all"])
a = p.parse_args()
torch.set_num_threads(a.threads)
torch.manual_seed(0)

m = torchvision.models.mobilenet_v2(weights=None)
# features[0] is the stem, features[1..17] the 17 inverted-residual blocks, features[18] Conv_1.
first, shape = {"1": (17, (160, 7, 7)), "4": (14, (96, 14, 14)), "all": (0, (3, 224, 224))}[a.blocks]
tail = torch.nn.Sequential(*m.features[first:], torch.nn.AdaptiveAvgPool2d(1), torch.nn.Flatten(), torch.nn.Dropout(0.2), torch.nn.Linear(1280, a.classes))
for mod in tail.modules():
    if isinstance(mod, torch.nn.BatchNorm2d):
        mod.eval()
        for q in mod.parameters():
            q.requires_grad_(False)
fmt = torch.channels_last if a.layout == "channels_last" else torch.contiguous_format
tail = tail.to(memory_format=fmt)
params = [q for q in tail.parameters() if q.requires_grad]
opt = torch.optim.AdamW(params, lr=1e-3, weight_decay=1e-2)
x = torch.randn(a.batch, *shape).to(memory_format=fmt)
y = torch.randint(0, a.classes, (a.batch,))
lossf = torch.nn.CrossEntropyLoss()


def step():
    opt.zero_grad(set_to_none=True)
    loss = lossf(tail(x), y)
    loss.backward()
    opt.step()


tail.train()
for mod in tail.modules():
    if isinstance(mod, torch.nn.BatchNorm2d):
        mod.eval()
for _ in range(5):
    step()
n = 0
t0 = time.perf_counter()
while time.perf_counter() - t0 < a.seconds:
    step()
    n += a.batch
dt = time.perf_counter() - t0
print(json.dumps({"img_s": n / dt, "threads": a.threads, "batch": a.batch, "layout": a.layout, "blocks": a.blocks, "torch": torch.__version__, "trainable": sum(q.numel() for q in params)}))
