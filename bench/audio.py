"""Peer for bench/audio.ts: torchaudio 0.13 front-end on the same WAV files, clips/s.
argv: list_file sample_rate n_fft hop n_mels threads"""
import sys, time
import torch, torchaudio
files = open(sys.argv[1]).read().split('\n')
sr, n_fft, hop, n_mels, threads = (int(v) for v in sys.argv[2:7])
torch.set_num_threads(threads)
mel = torchaudio.transforms.MelSpectrogram(sample_rate=sr, n_fft=n_fft, hop_length=hop, n_mels=n_mels)
db = torchaudio.transforms.AmplitudeToDB(stype='power', top_db=80)
def run(fs):
    with torch.no_grad():
        for f in fs:
            x, rate = torchaudio.load(f)
            x = x.mean(0)
            if rate != sr:
                x = torchaudio.functional.resample(x, rate, sr)
            db(mel(x))
run(files[:8])
t = time.perf_counter(); run(files); dt = time.perf_counter() - t
print(len(files) / dt)
