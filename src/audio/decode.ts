/**
 * One entry point for every sound file graft reads: bytes → planar float32 samples at the file's
 * own rate. The container is sniffed from the content (src/audio/containers.ts: RIFF, 'fLaC',
 * 'OggS' + Vorbis/Opus header, ID3/MPEG frame sync), never from the file name. WAV goes through
 * graft's own reader (src/audio/wav.ts); FLAC, Ogg Vorbis, Ogg Opus and MP3 through the
 * WebAssembly decoders of the wasm-audio-decoders project (`@wasm-audio-decoders/flac`,
 * `@wasm-audio-decoders/ogg-vorbis`, `ogg-opus-decoder`, `mpg123-decoder`; no native code, no
 * network), loaded on first use. Down-mixing and resampling stay in the front-end.
 *
 * A file that cannot be used throws one line: a truncated header, a file cut short, a corrupt
 * page or frame, a codec graft does not read (named from the content), or a stream that decodes
 * to fewer samples than its header promises.
 */
import { checkContainer, FORMAT_NAMES, type ContainerInfo, type SoundFormat } from './containers.js';
import { decodeWav, type PcmAudio } from './wav.js';

export { sniffSound, checkContainer, type SoundFormat, type ContainerInfo } from './containers.js';

/** Sound-file extensions an image folder also accepts (the content still decides the decoder). */
export const AUDIO_EXTENSIONS = ['.wav', '.wave', '.flac', '.ogg', '.oga', '.opus', '.mp3', '.mp2'];

/** What the wasm decoders give back (their common DecodedAudio shape). */
interface Decoded {
  channelData: Float32Array[];
  samplesDecoded: number;
  sampleRate: number;
  errors: { message: string; frameNumber: number }[];
}

/** A decoder for one file: created, used once, freed (instances hold wasm memory; the compiled module is cached). */
type Codec = (bytes: Uint8Array) => Promise<Decoded>;

const CODECS: Record<Exclude<SoundFormat, 'wav'>, Codec> = {
  async flac(bytes) {
    const { FLACDecoder } = await import('@wasm-audio-decoders/flac');
    const out = await once(new FLACDecoder(), (d) => d.decodeFile(bytes));
    // The decoder scales integer k to k / (2^(bits−1) − 1); graft's WAV reader (and torchaudio,
    // libsndfile) use k / 2^(bits−1): recover k and rescale, so a FLAC gives its WAV's samples exactly.
    const full = 2 ** (out.bitDepth - 1);
    if (out.bitDepth >= 4 && out.bitDepth <= 32) for (const c of out.channelData) for (let i = 0; i < c.length; i++) c[i] = Math.round(c[i]! * (full - 1)) / full;
    return out;
  },
  async 'ogg-vorbis'(bytes) {
    const { OggVorbisDecoder } = await import('@wasm-audio-decoders/ogg-vorbis');
    return once(new OggVorbisDecoder(), (d) => d.decodeFile(bytes));
  },
  async 'ogg-opus'(bytes) {
    const { OggOpusDecoder } = await import('ogg-opus-decoder');
    return once(new OggOpusDecoder(), (d) => d.decodeFile(bytes));
  },
  async mp3(bytes) {
    const { MPEGDecoder } = await import('mpg123-decoder');
    return once(new MPEGDecoder(), async (d) => d.decode(bytes));
  },
};

async function once<D extends { ready: Promise<void>; free: () => void }, R>(d: D, run: (d: D) => Promise<R>): Promise<R> {
  try {
    await d.ready;
    return await run(d);
  } finally {
    d.free();
  }
}

/** A sound file's samples, planar float32, at its own sample rate. Throws a one-line reason. */
export async function decodeAudio(bytes: Uint8Array): Promise<PcmAudio> {
  const info = checkContainer(bytes);
  if (info.format === 'wav') return decodeWav(bytes);
  let out: Decoded;
  try {
    out = await CODECS[info.format](bytes);
  } catch (e) {
    throw new Error(`corrupt ${FORMAT_NAMES[info.format]} stream (${(e as Error).message})`, { cause: e });
  }
  return checked(out, info);
}

function checked(out: Decoded, info: ContainerInfo): PcmAudio {
  const name = FORMAT_NAMES[info.format];
  const err = out.errors[0];
  if (err) throw new Error(`corrupt ${name} stream (${err.message.trim()} at frame ${err.frameNumber})`);
  const frames = out.samplesDecoded;
  if (!(frames > 0) || !(out.sampleRate > 0) || out.channelData.length === 0) throw new Error(`corrupt ${name} stream (no samples decoded)`);
  // FLAC's STREAMINFO gives the exact length (0: unknown). (An Ogg file cut short fails its page
  // check before decoding; its granule positions need not start at 0, so they are no length.)
  const promised = info.format === 'flac' ? info.frames : 0;
  if (promised > 0 && frames < promised) throw new Error(`truncated or corrupt ${name} stream (decoded ${frames} of the ${promised} samples its header gives)`);
  // ogg-opus-decoder trims the end to the last granule position without subtracting the pre-skip
  // it already dropped at the start: cut to the length the stream declares (RFC 7845 §4.1), when
  // the excess is that pre-skip (a stream whose granules do not start at 0 is left as decoded).
  const excess = frames - info.frames;
  const n = info.format === 'ogg-opus' && info.frames > 0 && excess > 0 && excess <= info.preSkip ? info.frames : frames;
  // mpg123 always gives two channels; a mono stream's are equal, keep one.
  const channels = out.channelData.slice(0, Math.max(1, info.channelCount)).map((c) => (c.length === n ? c : c.subarray(0, n)));
  return { sampleRate: out.sampleRate, channels, frames: n };
}
