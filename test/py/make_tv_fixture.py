#!/usr/bin/python3
"""
Reference fixtures for graft's torchvision-architecture parity test (test/zoo-parity.test.ts).

    make_tv_fixture.py OUTDIR ARCH:SIZE [ARCH:SIZE ...]

For each architecture: build it with torchvision 0.14 (random weights under a fixed seed), give
every BatchNorm random affine parameters and running statistics (calibrated on random data, then
perturbed, so that BN matters and activations stay O(1)), switch to eval mode, and run a fixed
batch of 2 inputs of SIZE x SIZE. Writes, under OUTDIR:

    ARCH.pth           torch.save(model.state_dict())
    ARCH.safetensors   the same state dict as safetensors, written by hand (no extra dependency)
    ARCH.input.npy     the input batch, float32 NHWC (what graft feeds)
    ARCH.logits.npy    float32 [2, num_classes]
    ARCH.features.npy  float32 [2, D]: the pooled feature vector graft calls 'features'
    manifest.json      {arch: {size, params, featureDim, classes, torchFp32Error, ...}}

The reference outputs are computed in float64 from the same (float32) weights and input: the
exact answer, so the test measures graft's own float32 error rather than the sum of graft's and
torch's. torch's own float32 error against it is recorded as torchFp32Error (same metric as the
test: max abs diff / max(1, max |reference|)) — deep random networks amplify rounding, and this
shows how much of graft's deviation any float32 implementation has.

All fixtures come from one process (importing torch once is most of the cost).
"""
import json
import math
import struct
import sys

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F
import torchvision.models as tvm

assert sys.byteorder == "little", "the safetensors writer assumes a little-endian host"


def build(arch):
    if arch == "inception_v3":
        # aux_logits=True so the state dict carries AuxLogits.* like the published file does
        # (graft ignores them); transform_input=False: the network itself, no input re-scaling.
        return tvm.inception_v3(weights=None, aux_logits=True, transform_input=False, init_weights=False)
    return getattr(tvm, arch)(weights=None)


def feature_hook_target(model, arch):
    """Module whose output (flattened) is graft's 'features' layer, or None (computed by hand)."""
    if arch.startswith("resnet") or arch == "inception_v3":
        return model.avgpool
    if arch.startswith("vgg"):
        return model.classifier[4]  # ReLU after the second 4096-d Linear
    if arch.startswith("mobilenet_v3") or arch.startswith("efficientnet"):
        return model.avgpool
    return None  # mobilenet_v2 pools functionally


def randomize(model, gen):
    with torch.no_grad():
        for m in model.modules():
            if isinstance(m, nn.Conv2d):
                fan_in = m.in_channels // m.groups * m.kernel_size[0] * m.kernel_size[1]
                m.weight.normal_(0.0, math.sqrt(2.0 / fan_in), generator=gen)
                if m.bias is not None:
                    m.bias.normal_(0.0, 0.1, generator=gen)
            elif isinstance(m, nn.Linear):
                m.weight.normal_(0.0, 1.0 / math.sqrt(m.in_features), generator=gen)
                m.bias.normal_(0.0, 0.1, generator=gen)
            elif isinstance(m, nn.BatchNorm2d):
                m.weight.uniform_(0.5, 1.5, generator=gen)
                m.bias.normal_(0.0, 0.2, generator=gen)


def calibrate_bn(model, arch, size, gen):
    """Set BN running stats to the statistics of random data (cumulative average), then perturb."""
    bns = [m for m in model.modules() if isinstance(m, nn.BatchNorm2d)]
    if not bns:
        return
    for m in bns:
        m.reset_running_stats()
        m.momentum = None
    model.train()
    for m in model.modules():
        if isinstance(m, nn.Dropout):
            m.eval()
    aux = None
    if arch == "inception_v3":
        aux, model.AuxLogits = model.AuxLogits, None  # too small an input for the aux head
    with torch.no_grad():
        for _ in range(2):
            model(torch.randn(4, 3, size, size, generator=gen))
    if aux is not None:
        model.AuxLogits = aux
    model.eval()
    with torch.no_grad():
        for m in bns:
            n = m.running_mean.numel()
            m.running_mean.add_(0.1 * torch.randn(n, generator=gen) * m.running_var.sqrt())
            m.running_var.mul_(torch.empty(n).uniform_(0.7, 1.4, generator=gen))
            m.momentum = 0.1


def save_safetensors(sd, path):
    header = {}
    offset = 0
    items = []
    for k, v in sd.items():
        t = v.detach().contiguous().cpu()
        dtype = {torch.float32: "F32", torch.int64: "I64"}[t.dtype]
        nbytes = t.numel() * t.element_size()
        header[k] = {"dtype": dtype, "shape": list(t.shape), "data_offsets": [offset, offset + nbytes]}
        offset += nbytes
        items.append(t)
    header["__metadata__"] = {"format": "pt", "producer": "graft test/py/make_tv_fixture.py"}
    h = json.dumps(header, separators=(",", ":")).encode("utf8")
    h += b" " * ((8 - len(h) % 8) % 8)
    with open(path, "wb") as f:
        f.write(struct.pack("<Q", len(h)))
        f.write(h)
        for t in items:
            f.write(t.numpy().tobytes())


def run(model, arch, x):
    """Logits and the pooled features of one batch."""
    captured = {}
    target = feature_hook_target(model, arch)
    hook = None
    if target is not None:
        hook = target.register_forward_hook(lambda _m, _i, o: captured.__setitem__("f", torch.flatten(o, 1)))
    with torch.no_grad():
        logits = model(x)
        if target is None:  # mobilenet_v2: features -> adaptive_avg_pool2d(1) -> flatten
            captured["f"] = torch.flatten(F.adaptive_avg_pool2d(model.features(x), (1, 1)), 1)
    if hook is not None:
        hook.remove()
    return logits, captured["f"]


def rel_err(a, ref):
    return float((a.double() - ref.double()).abs().max() / max(1.0, float(ref.abs().max())))


def main():
    out = sys.argv[1]
    torch.set_num_threads(2)
    manifest = {}
    for i, spec in enumerate(sys.argv[2:]):
        arch, size = spec.split(":")
        size = int(size)
        torch.manual_seed(1000 + i)
        gen = torch.Generator().manual_seed(2000 + i)
        model = build(arch)
        randomize(model, gen)
        calibrate_bn(model, arch, size, gen)
        model.eval()

        x = torch.randn(2, 3, size, size, generator=gen)
        sd = model.state_dict()
        torch.save(sd, f"{out}/{arch}.pth")
        save_safetensors(sd, f"{out}/{arch}.safetensors")
        params = sum(p.numel() for n, p in model.named_parameters() if not n.startswith("AuxLogits."))
        logits32, feats32 = run(model, arch, x)
        del sd
        logits, feats = run(model.double(), arch, x.double())
        np.save(f"{out}/{arch}.input.npy", x.permute(0, 2, 3, 1).contiguous().numpy().astype(np.float32))
        np.save(f"{out}/{arch}.logits.npy", logits.numpy().astype(np.float32))
        np.save(f"{out}/{arch}.features.npy", feats.numpy().astype(np.float32))
        manifest[arch] = {
            "size": size,
            "params": params,
            "featureDim": int(feats.shape[1]),
            "classes": int(logits.shape[1]),
            "logitsAbsMax": float(logits.abs().max()),
            "featuresAbsMax": float(feats.abs().max()),
            "torchFp32Error": {"logits": rel_err(logits32, logits), "features": rel_err(feats32, feats)},
        }
        del model
    with open(f"{out}/manifest.json", "w") as f:
        json.dump(manifest, f, indent=1)


if __name__ == "__main__":
    main()
