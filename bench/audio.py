"""Peer for bench/audio.ts: torchaudio 0.13 front-end on the same WAV files, clips/s per pass.
argv: list_file sample_rate n_fft hop n_mels threads. Then one pass per stdin line, one line
back: clips/s (wall) and CPU ms per clip ('profile': CPU ms per clip by stage instead). A line names the resampling: 'cached' = a transforms.Resample per source rate with
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
def profile(fs):
    """CPU ms per clip by stage (decode + mono, cached resample, mel, dB), each stage over all clips."""
    out = []
    with torch.no_grad():
        c = time.process_time(); xs = [torchaudio.load(f) for f in fs]; xs = [(x.mean(0), r) for x, r in xs]; out.append(time.process_time() - c)
        c = time.process_time(); ys = [resamplers[r](x) if r != sr else x for x, r in xs]; out.append(time.process_time() - c)
        c = time.process_time(); ms = [mel(y) for y in ys]; out.append(time.process_time() - c)
        c = time.process_time(); [db(m) for m in ms]; out.append(time.process_time() - c)
    return ' '.join(str(1000 * v / len(fs)) for v in out)
print('ready', flush=True)
for line in sys.stdin:
    mode = line.strip()
    if mode == 'profile':
        print(profile(files), flush=True)
        continue
    t = time.perf_counter(); c = time.process_time(); run(files, mode)
    dt = time.perf_counter() - t; dc = time.process_time() - c
    print(len(files) / dt, 1000 * dc / len(files), flush=True)
