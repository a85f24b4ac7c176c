"""torchaudio 0.13 reference for graft's log-mel front-end (test/audio.test.ts).

argv: in.f32 out.f32 sample_rate n_fft hop n_mels f_min f_max top_db [float64]
Reads a raw little-endian float32 mono waveform, writes MelSpectrogram + AmplitudeToDB (power,
top_db) as raw float32 (n_mels × frames, row-major) and prints the shape.
"""
import sys
import numpy as np
import torch
import torchaudio

src, dst = sys.argv[1], sys.argv[2]
sr, n_fft, hop, n_mels = (int(v) for v in sys.argv[3:7])
f_min, f_max, top_db = (float(v) for v in sys.argv[7:10])
x = torch.from_numpy(np.fromfile(src, dtype="<f4"))
exact = len(sys.argv) > 10 and sys.argv[10] == 'float64'  # the same definition without float32 rounding
if exact:
    torch.set_default_dtype(torch.float64)  # the filter bank and window are built in the default dtype
    x = x.double()
mel = torchaudio.transforms.MelSpectrogram(sample_rate=sr, n_fft=n_fft, hop_length=hop, n_mels=n_mels, f_min=f_min, f_max=f_max)
db = torchaudio.transforms.AmplitudeToDB(stype='power', top_db=top_db)
with torch.no_grad():
    out = db(mel(x))
out.numpy().astype('<f8' if exact else '<f4').tofile(dst)
print(tuple(out.shape))
