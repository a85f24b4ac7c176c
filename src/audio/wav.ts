/**
 * WAV (RIFF/WAVE) reader: integer PCM 8/16/24/32-bit, IEEE float 32/64-bit, any channel count and
 * sample rate, WAVE_FORMAT_EXTENSIBLE (its sub-format GUID picks PCM or float). Samples come back
 * as planar float32 in [-1, 1) (floats as stored). Everything else is an error saying what is
 * wrong: a truncated header, a missing or empty data chunk, an unsupported codec (A-law, µ-law,
 * ADPCM, MP3-in-WAV, …) named by its format tag.
 */

export interface PcmAudio {
  sampleRate: number;
  /** One Float32Array per channel, all `frames` long. */
  channels: Float32Array[];
  frames: number;
}

/** What the header says, without decoding samples (cheap: used to check dataset files). */
export interface WavInfo {
  sampleRate: number;
  channelCount: number;
  /** 'pcm' (integer) or 'float'. */
  encoding: 'pcm' | 'float';
  bitsPerSample: number;
  frames: number;
  /** Byte offset and length of the sample data actually present in the buffer. */
  dataOffset: number;
  dataBytes: number;
  seconds: number;
}

const FORMAT_NAMES: Record<number, string> = {
  0x0002: 'Microsoft ADPCM',
  0x0006: 'A-law',
  0x0007: 'µ-law',
  0x0011: 'IMA ADPCM',
  0x0031: 'GSM 6.10',
  0x0050: 'MPEG',
  0x0055: 'MP3',
  0x00ff: 'AAC',
};

/** True when the bytes start like a RIFF/WAVE (or RF64) file. */
export function isWav(bytes: Uint8Array): boolean {
  if (bytes.length < 12) return false;
  const tag = String.fromCharCode(bytes[0]!, bytes[1]!, bytes[2]!, bytes[3]!);
  const wave = String.fromCharCode(bytes[8]!, bytes[9]!, bytes[10]!, bytes[11]!);
  return (tag === 'RIFF' || tag === 'RF64') && wave === 'WAVE';
}

function fourcc(b: Buffer, at: number): string {
  return b.toString('latin1', at, at + 4);
}

function codecName(tag: number): string {
  return `${FORMAT_NAMES[tag] ?? 'unknown codec'} (format tag 0x${tag.toString(16).padStart(4, '0')})`;
}

/** Parse the header and locate the data; throws a one-line reason when the file cannot be read. */
export function readWavInfo(bytes: Uint8Array): WavInfo {
  const b = Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  if (b.length < 12) throw new Error(`truncated header (${b.length} bytes; a WAV file starts with a 12-byte RIFF header)`);
  if (!isWav(b)) throw new Error('not a WAV file (no RIFF/WAVE header)');
  if (fourcc(b, 0) === 'RF64') throw new Error('unsupported container RF64 (64-bit WAV)');
  let fmt: { tag: number; channels: number; rate: number; align: number; bits: number } | undefined;
  let at = 12;
  while (at + 8 <= b.length) {
    const id = fourcc(b, at);
    const size = b.readUInt32LE(at + 4);
    const body = at + 8;
    if (id === 'fmt ') {
      if (size < 16 || body + 16 > b.length) throw new Error(`truncated header (fmt chunk of ${Math.min(size, b.length - body)} bytes, needs 16)`);
      let tag = b.readUInt16LE(body);
      const bits = b.readUInt16LE(body + 14);
      if (tag === 0xfffe) {
        if (size < 40 || body + 40 > b.length) throw new Error('truncated header (WAVE_FORMAT_EXTENSIBLE fmt chunk shorter than 40 bytes)');
        tag = b.readUInt16LE(body + 24); // first two bytes of the sub-format GUID
      }
      fmt = { tag, channels: b.readUInt16LE(body + 2), rate: b.readUInt32LE(body + 4), align: b.readUInt16LE(body + 12), bits };
    } else if (id === 'data') {
      if (!fmt) throw new Error('truncated header (data chunk before the fmt chunk)');
      return describe(fmt, body, size, b.length);
    }
    at = body + size + (size & 1); // chunks are word-aligned
  }
  throw new Error(fmt ? 'no data chunk (file truncated?)' : 'truncated header (no fmt chunk)');
}

function describe(fmt: { tag: number; channels: number; rate: number; align: number; bits: number }, body: number, size: number, total: number): WavInfo {
  const { tag, channels, rate, bits } = fmt;
  let encoding: WavInfo['encoding'];
  if (tag === 1 && [8, 16, 24, 32].includes(bits)) encoding = 'pcm';
  else if (tag === 3 && (bits === 32 || bits === 64)) encoding = 'float';
  else if (tag === 1 || tag === 3) throw new Error(`unsupported ${tag === 1 ? 'PCM' : 'float'} sample size ${bits} bits`);
  else throw new Error(`unsupported codec ${codecName(tag)}; graft reads PCM and float WAV`);
  if (channels < 1) throw new Error('bad header: 0 channels');
  if (rate < 1) throw new Error('bad header: sample rate 0');
  const frameBytes = (bits / 8) * channels;
  if (size === 0) throw new Error('zero-length data chunk (no samples)');
  // A streaming writer may leave the size unset (0xFFFFFFFF) or the file may be cut short: use the whole frames present.
  const present = Math.min(size, total - body);
  const frames = Math.floor(present / frameBytes);
  if (frames === 0) throw new Error(`truncated data (${present} bytes of samples, one frame is ${frameBytes})`);
  return { sampleRate: rate, channelCount: channels, encoding, bitsPerSample: bits, frames, dataOffset: body, dataBytes: frames * frameBytes, seconds: frames / rate };
}

const LITTLE_ENDIAN = new Uint8Array(new Uint16Array([1]).buffer)[0] === 1;

/** Decode a WAV file's samples to planar float32. */
export function decodeWav(bytes: Uint8Array): PcmAudio {
  const info = readWavInfo(bytes);
  const b = Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const { channelCount: nc, frames, bitsPerSample: bits, encoding } = info;
  const channels = Array.from({ length: nc }, () => new Float32Array(frames));
  if (encoding === 'pcm' && bits === 16 && LITTLE_ENDIAN) {
    // The common case without a call per sample: the data as int16 (copied once if it is not 2-byte aligned).
    const off = b.byteOffset + info.dataOffset;
    const src = off % 2 === 0 ? new Int16Array(b.buffer, off, frames * nc) : new Int16Array(Uint8Array.prototype.slice.call(b, info.dataOffset, info.dataOffset + frames * nc * 2).buffer);
    for (let c = 0; c < nc; c++) {
      const ch = channels[c]!;
      for (let f = 0, i = c; f < frames; f++, i += nc) ch[f] = src[i]! / 32768;
    }
    return { sampleRate: info.sampleRate, channels, frames };
  }
  const step = bits / 8;
  let at = info.dataOffset;
  const read = sampleReader(b, encoding, bits);
  for (let f = 0; f < frames; f++) {
    for (let c = 0; c < nc; c++, at += step) channels[c]![f] = read(at);
  }
  return { sampleRate: info.sampleRate, channels, frames };
}

function sampleReader(b: Buffer, encoding: WavInfo['encoding'], bits: number): (at: number) => number {
  if (encoding === 'float') return bits === 32 ? (at) => b.readFloatLE(at) : (at) => b.readDoubleLE(at);
  switch (bits) {
    case 8:
      return (at) => (b[at]! - 128) / 128; // 8-bit WAV is unsigned
    case 16:
      return (at) => b.readInt16LE(at) / 32768;
    case 24:
      return (at) => b.readIntLE(at, 3) / 8388608;
    default:
      return (at) => b.readInt32LE(at) / 2147483648;
  }
}

/** Average of the channels (mono passes through). */
export function downmix(audio: PcmAudio): Float32Array {
  const { channels, frames } = audio;
  if (channels.length === 1) return channels[0]!;
  const out = new Float32Array(frames);
  const k = 1 / channels.length;
  for (const ch of channels) for (let i = 0; i < frames; i++) out[i]! += ch[i]! * k;
  return out;
}

export interface WavWriteOptions {
  sampleRate: number;
  /** 'pcm' integer or 'float'. */
  encoding?: 'pcm' | 'float';
  bitsPerSample?: 8 | 16 | 24 | 32 | 64;
  /** Write a WAVE_FORMAT_EXTENSIBLE header. */
  extensible?: boolean;
}

/** Encode planar float samples as a WAV file (tests, the dataset generator, reports). */
export function encodeWav(channels: Float32Array[], o: WavWriteOptions): Buffer {
  const encoding = o.encoding ?? 'pcm';
  const bits = o.bitsPerSample ?? (encoding === 'float' ? 32 : 16);
  const nc = channels.length;
  const frames = channels[0]?.length ?? 0;
  const step = bits / 8;
  const fmtSize = o.extensible ? 40 : 16;
  const dataBytes = frames * nc * step;
  const b = Buffer.alloc(12 + 8 + fmtSize + 8 + dataBytes + (dataBytes & 1));
  b.write('RIFF', 0, 'latin1');
  b.writeUInt32LE(b.length - 8, 4);
  b.write('WAVE', 8, 'latin1');
  b.write('fmt ', 12, 'latin1');
  b.writeUInt32LE(fmtSize, 16);
  const tag = encoding === 'float' ? 3 : 1;
  b.writeUInt16LE(o.extensible ? 0xfffe : tag, 20);
  b.writeUInt16LE(nc, 22);
  b.writeUInt32LE(o.sampleRate, 24);
  b.writeUInt32LE(o.sampleRate * nc * step, 28);
  b.writeUInt16LE(nc * step, 32);
  b.writeUInt16LE(bits, 34);
  if (o.extensible) {
    b.writeUInt16LE(22, 36);
    b.writeUInt16LE(bits, 38);
    b.writeUInt32LE(0, 40);
    // KSDATAFORMAT_SUBTYPE_PCM / _IEEE_FLOAT: tag, then 00000000-0010-8000-00aa00389b71
    Buffer.from([tag, 0, 0, 0, 0, 0, 0x10, 0, 0x80, 0, 0, 0xaa, 0, 0x38, 0x9b, 0x71]).copy(b, 44);
  }
  let at = 20 + fmtSize;
  b.write('data', at, 'latin1');
  b.writeUInt32LE(dataBytes, at + 4);
  at += 8;
  const clip = (x: number) => Math.max(-1, Math.min(1, x));
  for (let f = 0; f < frames; f++) {
    for (let c = 0; c < nc; c++, at += step) {
      const x = channels[c]![f]!;
      if (encoding === 'float') bits === 32 ? b.writeFloatLE(x, at) : b.writeDoubleLE(x, at);
      else if (bits === 8) b[at] = Math.max(0, Math.min(255, Math.round(clip(x) * 128 + 128)));
      else {
        const full = 2 ** (bits - 1);
        const v = Math.max(-full, Math.min(full - 1, Math.round(clip(x) * full)));
        b.writeIntLE(v, at, bits / 8);
      }
    }
  }
  return b;
}
