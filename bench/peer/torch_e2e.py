#!/usr/bin/python3
"""Peer for bench:e2e: what a plain PyTorch script does for `graft extract DIR --out x.npy`.

Walks DIR/<class>/* (sorted), decodes each image with PIL (convert to RGB), resizes it to the
model's input with PIL's bilinear filter (the squash resize graft's default backbone uses),
scales to [0,1], batches, and runs torchvision's MobileNetV2 (random weights: speed does not depend
on them; classifier dropped, so the output is the pooled 1280-d feature) under inference_mode,
then writes the [N,1280] float32 matrix with numpy.save. One JSON line on stdout: per-stage
seconds (import, decode, model, save) and the wall time inside Python.
"""
import argparse
import json
import os
import sys
import time

T0 = time.perf_counter()
import numpy as np  # noqa: E402
import torch  # noqa: E402
import torchvision  # noqa: E402
from PIL import Image  # noqa: E402

EXT = {".jpg", ".jpeg", ".png", ".bmp", ".webp", ".gif", ".tif", ".tiff"}


def files_of(root):
    out = []
    for cls in sorted(os.listdir(root)):
        d = os.path.join(root, cls)
        if not os.path.isdir(d):
            continue
        for f in sorted(os.listdir(d)):
            if os.path.splitext(f)[1].lower() in EXT and not f.startswith("."):
                out.append(os.path.join(d, f))
    return out


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--dir", required=True)
    ap.add_argument("--out", required=True)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--batch", type=int, default=16)
    ap.add_argument("--size", type=int, default=224)
    ap.add_argument("--layout", choices=["nchw", "channels_last"], default="channels_last")
    a = ap.parse_args()
    torch.set_num_threads(a.threads)
    t_import = time.perf_counter() - T0
    m = torchvision.models.mobilenet_v2(weights=None)
    m.classifier = torch.nn.Identity()
    m.eval()
    if a.layout == "channels_last":
        m = m.to(memory_format=torch.channels_last)
    files = files_of(a.dir)
    feats = []
    t_dec = t_model = 0.0
    with torch.inference_mode():
        for s in range(0, len(files), a.batch):
            t = time.perf_counter()
            arr = np.empty((min(a.batch, len(files) - s), a.size, a.size, 3), dtype=np.float32)
            for j, f in enumerate(files[s : s + a.batch]):
                with Image.open(f) as im:
                    arr[j] = np.asarray(im.convert("RGB").resize((a.size, a.size), Image.BILINEAR), dtype=np.float32) / 255.0
            x = torch.from_numpy(arr).permute(0, 3, 1, 2)
            x = x.contiguous(memory_format=torch.channels_last) if a.layout == "channels_last" else x.contiguous()
            t2 = time.perf_counter()
            feats.append(m(x).numpy())
            t3 = time.perf_counter()
            t_dec += t2 - t
            t_model += t3 - t2
    t = time.perf_counter()
    np.save(a.out, np.concatenate(feats).astype(np.float32))
    t_save = time.perf_counter() - t
    print(json.dumps({"n": len(files), "torch": torch.__version__, "import_s": round(t_import, 3), "decode_s": round(t_dec, 3),
                      "model_s": round(t_model, 3), "save_s": round(t_save, 3), "python_wall_s": round(time.perf_counter() - T0, 3)}))


if __name__ == "__main__":
    sys.exit(main())
