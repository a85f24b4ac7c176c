#!/usr/bin/python3
"""
Reference ONNX classifiers for graft's model-file backbones (test/user-models.test.ts).

    make_onnx_fixture.py OUTDIR SIZE

Builds torchvision 0.14's resnet18 with random weights and randomised BatchNorm statistics (fixed
seeds; the helpers of make_tv_fixture.py), exports it with torch.onnx.export (NCHW input, as
torchvision users do; needs no `onnx` python package) twice, and writes under OUTDIR:

    resnet18.onnx           logits output, every dim fixed (batch 1: torch's default export)
    resnet18_softmax.onnx   the same network followed by Softmax, batch dim dynamic
    input.npy               float32 [2, SIZE, SIZE, 3] NHWC (what graft feeds)
    features.npy            float32 [2, 512]  the pooled features (input of the fc layer)
    logits.npy              float32 [2, 1000]
    layer4.npy              float32 [2, h*w*512]  layer4's output, NHWC order, flattened
    tiny_batch1.onnx        a small conv net whose flatten is `x.reshape(1, -1)`: runs 1 image at a time
    tiny_features.npy       float32 [2, 64]  its features (input of its Linear), image by image

References are computed in float64 from the same float32 weights and input (the exact answer).
"""
import json
import os
import sys

import numpy as np
import torch
import torch.nn as nn

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from make_tv_fixture import build, calibrate_bn, randomize  # noqa: E402


class TinyBatch1(nn.Module):
    """A net that only runs batch 1 (a hard-coded reshape), as careless exports often do."""

    def __init__(self):
        super().__init__()
        self.conv = nn.Conv2d(3, 4, 3, padding=1)
        self.pool = nn.AdaptiveAvgPool2d(4)
        self.fc = nn.Linear(64, 5)

    def features(self, x):
        return self.pool(torch.relu(self.conv(x))).reshape(1, -1)

    def forward(self, x):
        return self.fc(self.features(x))


def main():
    out, size = sys.argv[1], int(sys.argv[2])
    torch.set_num_threads(2)
    torch.manual_seed(4321)
    gen = torch.Generator().manual_seed(8765)
    model = build("resnet18")
    randomize(model, gen)
    calibrate_bn(model, "resnet18", size, gen)
    model.eval()
    x = torch.randn(2, 3, size, size, generator=gen)

    with torch.no_grad():
        torch.onnx.export(model, x[:1], f"{out}/resnet18.onnx", input_names=["image"], output_names=["logits"], opset_version=13)
        # export() restores the exported module's train/eval mode recursively: wrap an eval-mode module.
        torch.onnx.export(
            nn.Sequential(model, nn.Softmax(dim=1)).eval(), x[:1], f"{out}/resnet18_softmax.onnx",
            input_names=["image"], output_names=["probs"], opset_version=13,
            dynamic_axes={"image": {0: "batch"}, "probs": {0: "batch"}},
        )
        m64, x64 = model.eval().double(), x.double()
        captured = {}
        hooks = [
            m64.avgpool.register_forward_hook(lambda _m, _i, o: captured.__setitem__("features", torch.flatten(o, 1))),
            m64.layer4.register_forward_hook(lambda _m, _i, o: captured.__setitem__("layer4", o.permute(0, 2, 3, 1).reshape(o.shape[0], -1))),
        ]
        logits = m64(x64)
        for h in hooks:
            h.remove()

    tiny = TinyBatch1().eval()
    with torch.no_grad():
        torch.onnx.export(tiny, x[:1], f"{out}/tiny_batch1.onnx", input_names=["x"], output_names=["y"], opset_version=13)
        tiny64 = tiny.double()
        tiny_features = torch.cat([tiny64.features(x64[i : i + 1]) for i in range(2)])
    np.save(f"{out}/tiny_features.npy", tiny_features.numpy().astype(np.float32))
    np.save(f"{out}/input.npy", x.permute(0, 2, 3, 1).contiguous().numpy().astype(np.float32))
    np.save(f"{out}/logits.npy", logits.numpy().astype(np.float32))
    np.save(f"{out}/features.npy", captured["features"].numpy().astype(np.float32))
    np.save(f"{out}/layer4.npy", captured["layer4"].numpy().astype(np.float32))
    with open(f"{out}/manifest.json", "w") as f:
        json.dump({"size": size, "torch": torch.__version__, "featureDim": int(captured["features"].shape[1])}, f)


if __name__ == "__main__":
    main()
