"""Peer for bench/audio.ts: torchaudio 0.13 front-end on the same WAV files, clips/s per pass.
argv: list_file sample_rate n_fft hop n_mels threads. Then one pass per stdin line, one line
back: clips/s (wall) and CPU ms per clip. A line names the resampling: 'cached' = a transforms.Resample per source rate with
graft's filter design (Kaiser window, 24 zero crossings, rolloff 0.94, beta 9: src/audio/resample.ts),
built once and reused, as graft caches its polyphase table; 'call' = torchaudio.functional.resample
with its defaults (Hann window, 6 zero crossings, rolloff 0.99), the kernel rebuilt for every clip."""
import sys, time
import torch, torchaudio
files = open(sys.argv[1]).read().split('\n')
sr, n_fft, hop, n_mels, threads = (int(v) for v in sys.argv[2:7])
torch.set_num_threads(threads)
mel = torchaudio.transforms.MelSpectrogram(sample_rate=sr, n_fft=n_fft, hop_length=hop, n_mels=n_mels)
db = torchaudio.transforms.AmplitudeToDB(stype='power', top_db=80)
resamplers = {}
def run(fs, mode):
    with torch.no_grad():
        for f in fs:
            x, rate = torchaudio.load(f)
            x = x.mean(0)
            if rate != sr:
                if mode == 'cached':
                    if rate not in resamplers:
                        resamplers[rate] = torchaudio.transforms.Resample(rate, sr, resampling_method='kaiser_window', lowpass_filter_width=24, rolloff=0.94, beta=9.0)
                    x = resamplers[rate](x)
                else:
                    x = torchaudio.functional.resample(x, rate, sr)
            db(mel(x))
run(files[:8], 'cached')
run(files[:8], 'call')
print('ready', flush=True)
for line in sys.stdin:
    mode = line.strip()
    t = time.perf_counter(); c = time.process_time(); run(files, mode)
    dt = time.perf_counter() - t; dc = time.process_time() - c
    print(len(files) / dt, 1000 * dc / len(files), flush=True)
