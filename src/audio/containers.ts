/**
 * Sound containers told apart by their bytes (never the file name), and checked without decoding
 * samples: FLAC (its STREAMINFO block), Ogg (every page's framing and CRC, the codec of the first
 * stream, end-of-stream), MPEG audio (ID3v2 skipped, then frame headers walked to the end) and WAV
 * (src/audio/wav.ts). `checkContainer` throws a one-line reason: a truncated header, a file cut
 * short, a corrupt page, or a codec graft does not decode, named from the content.
 */
import { isWav, readWavInfo } from './wav.js';

export type SoundFormat = 'wav' | 'flac' | 'ogg-vorbis' | 'ogg-opus' | 'mp3';

/** Display names, in the order the error messages list them. */
export const FORMAT_NAMES: Record<SoundFormat, string> = { wav: 'WAV', flac: 'FLAC', 'ogg-vorbis': 'Ogg Vorbis', 'ogg-opus': 'Ogg Opus', mp3: 'MP3' };

/** What the header tells before decoding; `frames` 0 when the header does not say. */
export interface ContainerInfo {
  format: SoundFormat;
  sampleRate: number;
  channelCount: number;
  frames: number;
  /** Ogg Opus: samples (48 kHz) the decoder drops at the start. */
  preSkip: number;
}

const ascii = (b: Uint8Array, at: number, n: number) => String.fromCharCode(...b.subarray(at, at + n));

/** Bytes taken by a leading ID3v2 tag (0 when there is none). */
export function id3Length(b: Uint8Array): number {
  if (b.length < 10 || ascii(b, 0, 3) !== 'ID3') return 0;
  const size = ((b[6]! & 0x7f) << 21) | ((b[7]! & 0x7f) << 14) | ((b[8]! & 0x7f) << 7) | (b[9]! & 0x7f);
  return 10 + size + (b[5]! & 0x10 ? 10 : 0);
}

// ---- MPEG audio frame headers -------------------------------------------------------------------

const KBPS = {
  v1: [
    [], // layer index 0 is reserved
    [0, 32, 40, 48, 56, 64, 80, 96, 112, 128, 160, 192, 224, 256, 320], // Layer III
    [0, 32, 48, 56, 64, 80, 96, 112, 128, 160, 192, 224, 256, 320, 384], // Layer II
    [0, 32, 64, 96, 128, 160, 192, 224, 256, 288, 320, 352, 384, 416, 448], // Layer I
  ],
  v2: [[], [0, 8, 16, 24, 32, 40, 48, 56, 64, 80, 96, 112, 128, 144, 160], [0, 8, 16, 24, 32, 40, 48, 56, 64, 80, 96, 112, 128, 144, 160], [0, 32, 48, 56, 64, 80, 96, 112, 128, 144, 160, 176, 192, 224, 256]],
};
const RATES: Record<number, number[]> = { 3: [44100, 48000, 32000], 2: [22050, 24000, 16000], 0: [11025, 12000, 8000] };

interface MpegFrame {
  /** Bytes in the frame, header included. */
  length: number;
  sampleRate: number;
  channels: number;
  /** Samples per channel in the frame. */
  samples: number;
  /** Version and layer bits, equal in every frame of a stream. */
  kind: number;
}

/** The MPEG audio frame header at `at`, or undefined when there is none (free-format frames included). */
function mpegFrame(b: Uint8Array, at: number): MpegFrame | undefined {
  if (at + 4 > b.length || b[at] !== 0xff || (b[at + 1]! & 0xe0) !== 0xe0) return undefined;
  const version = (b[at + 1]! >> 3) & 3; // 3 MPEG-1, 2 MPEG-2, 0 MPEG-2.5
  const layer = (b[at + 1]! >> 1) & 3; // 1 III, 2 II, 3 I
  const brIndex = b[at + 2]! >> 4;
  const srIndex = (b[at + 2]! >> 2) & 3;
  if (version === 1 || layer === 0 || brIndex === 0 || brIndex === 15 || srIndex === 3) return undefined;
  const bitrate = (version === 3 ? KBPS.v1 : KBPS.v2)[layer]![brIndex]! * 1000;
  const sampleRate = RATES[version]![srIndex]!;
  const pad = (b[at + 2]! >> 1) & 1;
  const samples = layer === 3 ? 384 : layer === 2 || version === 3 ? 1152 : 576;
  const length = layer === 3 ? (Math.floor((12 * bitrate) / sampleRate) + pad) * 4 : Math.floor((samples / 8) * bitrate / sampleRate) + pad;
  return { length, sampleRate, channels: b[at + 3]! >> 6 === 3 ? 1 : 2, samples, kind: b[at + 1]! & 0x1e };
}

/** True when the bytes start (after an ID3v2 tag) with two consecutive frames of one MPEG stream (or one frame filling the file). */
function startsMpeg(b: Uint8Array): boolean {
  const at = id3Length(b);
  const first = mpegFrame(b, at);
  if (!first) return false;
  if (at + first.length >= b.length) return ascii(b, 0, 3) === 'ID3' || at + first.length === b.length;
  const next = mpegFrame(b, at + first.length);
  return !!next && next.kind === first.kind && next.sampleRate === first.sampleRate;
}

/** Trailing bytes a stream may end with: ID3v1, APE or Lyrics3 tags, or zero padding. */
function isTrailer(b: Uint8Array, at: number): boolean {
  const tag = ascii(b, at, 8);
  return tag.startsWith('TAG') || tag === 'APETAGEX' || tag.startsWith('LYRICS') || b.subarray(at).every((x) => x === 0);
}

function checkMpeg(b: Uint8Array): ContainerInfo {
  const start = id3Length(b);
  if (start >= b.length) throw new Error(`truncated file (ID3 tag of ${start} bytes, file of ${b.length})`);
  const first = mpegFrame(b, start);
  if (!first) throw new Error('corrupt MPEG stream (no frame header after the ID3 tag)');
  let at = start;
  let frames = 0;
  while (at < b.length) {
    const f = mpegFrame(b, at);
    if (!f || f.kind !== first.kind || f.sampleRate !== first.sampleRate) {
      if (isTrailer(b, at)) break;
      throw new Error(`corrupt MPEG stream (no frame header at byte ${at} of ${b.length}, after ${frames} frames)`);
    }
    if (at + f.length > b.length) throw new Error(`truncated file (the last MPEG frame needs ${f.length} bytes, ${b.length - at} left)`);
    at += f.length;
    frames += 1;
  }
  // Frames × samples per frame: an upper bound (it counts the encoder's delay and padding).
  return { format: 'mp3', sampleRate: first.sampleRate, channelCount: first.channels, frames: frames * first.samples, preSkip: 0 };
}

// ---- FLAC --------------------------------------------------------------------------------------

function checkFlac(b: Uint8Array, start: number): ContainerInfo {
  const s = start + 8; // STREAMINFO body, after 'fLaC' and its block header
  if (b.length < s + 34) throw new Error(`truncated header (${b.length - start} bytes; FLAC's STREAMINFO block ends at byte 42)`);
  if ((b[start + 4]! & 0x7f) !== 0) throw new Error('corrupt FLAC header (first metadata block is not STREAMINFO)');
  const sampleRate = (b[s + 10]! << 12) | (b[s + 11]! << 4) | (b[s + 12]! >> 4);
  const channelCount = ((b[s + 12]! >> 1) & 7) + 1;
  const frames = (b[s + 13]! & 0x0f) * 2 ** 32 + ((b[s + 14]! << 24) >>> 0) + ((b[s + 15]! << 16) | (b[s + 16]! << 8) | b[s + 17]!);
  if (sampleRate === 0) throw new Error('corrupt FLAC header (sample rate 0)');
  let at = start + 4;
  for (;;) {
    if (at + 4 > b.length) throw new Error('truncated header (FLAC metadata blocks run past the end)');
    const last = b[at]! & 0x80;
    at += 4 + ((b[at + 1]! << 16) | (b[at + 2]! << 8) | b[at + 3]!);
    if (last) break;
  }
  if (at > b.length) throw new Error('truncated header (FLAC metadata blocks run past the end)');
  if (at + 2 > b.length || b[at] !== 0xff || (b[at + 1]! & 0xfe) !== 0xf8) throw new Error(at >= b.length ? 'no audio frames (the file ends after the FLAC header)' : `corrupt FLAC stream (no frame sync at byte ${at})`);
  return { format: 'flac', sampleRate, channelCount, frames, preSkip: 0 };
}

// ---- Ogg ---------------------------------------------------------------------------------------

const CRC_TABLE = (() => {
  const t = new Uint32Array(256);
  for (let i = 0; i < 256; i++) {
    let r = i << 24;
    for (let k = 0; k < 8; k++) r = r & 0x80000000 ? (r << 1) ^ 0x04c11db7 : r << 1;
    t[i] = r >>> 0;
  }
  return t;
})();

/** Ogg's CRC-32 (polynomial 0x04c11db7, not reflected, initial 0) of a page whose CRC field reads as zero. */
function pageCrc(b: Uint8Array, at: number, end: number): number {
  let crc = 0;
  for (let i = at; i < end; i++) {
    const x = i - at >= 22 && i - at < 26 ? 0 : b[i]!;
    crc = ((crc << 8) ^ CRC_TABLE[((crc >>> 24) ^ x) & 0xff]!) >>> 0;
  }
  return crc;
}

/** The codec of an Ogg stream from its first packet. */
function oggCodec(p: Uint8Array): { format?: SoundFormat; name: string; sampleRate: number; channelCount: number; preSkip: number } {
  const view = new DataView(p.buffer, p.byteOffset, p.byteLength);
  if (p.length >= 16 && ascii(p, 0, 7) === '\x01vorbis') return { format: 'ogg-vorbis', name: 'Vorbis', channelCount: p[11]!, sampleRate: view.getUint32(12, true), preSkip: 0 };
  if (p.length >= 16 && ascii(p, 0, 8) === 'OpusHead') return { format: 'ogg-opus', name: 'Opus', channelCount: p[9]!, sampleRate: 48000, preSkip: view.getUint16(10, true) };
  const known: [string, string][] = [['\x7fFLAC', 'FLAC'], ['Speex   ', 'Speex'], ['\x80theora', 'Theora'], ['OggMIDI', 'MIDI'], ['fishead', 'Skeleton']];
  const name = known.find(([sig]) => ascii(p, 0, sig.length) === sig)?.[1] ?? 'unknown';
  return { name, sampleRate: 0, channelCount: 0, preSkip: 0 };
}

function checkOgg(b: Uint8Array): ContainerInfo {
  let at = 0;
  let serial: number | undefined;
  let codec: ReturnType<typeof oggCodec> | undefined;
  let granule = 0;
  let ended = false;
  const view = new DataView(b.buffer, b.byteOffset, b.byteLength);
  while (at < b.length) {
    if (at + 27 > b.length) throw new Error(`truncated file (Ogg page header at byte ${at} cut short)`);
    if (ascii(b, at, 4) !== 'OggS' || b[at + 4] !== 0) throw new Error(`corrupt Ogg stream (no page at byte ${at})`);
    const nseg = b[at + 26]!;
    if (at + 27 + nseg > b.length) throw new Error(`truncated file (Ogg page header at byte ${at} cut short)`);
    let body = 0;
    for (let i = 0; i < nseg; i++) body += b[at + 27 + i]!;
    const end = at + 27 + nseg + body;
    if (end > b.length) throw new Error(`truncated file (Ogg page at byte ${at} needs ${end - at} bytes, ${b.length - at} left)`);
    if (pageCrc(b, at, end) !== view.getUint32(at + 22, true)) throw new Error(`corrupt Ogg page at byte ${at} (CRC mismatch)`);
    const pageSerial = view.getUint32(at + 14, true);
    if (serial === undefined) {
      serial = pageSerial;
      codec = oggCodec(b.subarray(at + 27 + nseg, end));
      if (!codec.format) throw new Error(`unsupported Ogg codec ${codec.name}; graft reads Ogg Vorbis and Ogg Opus`);
    }
    if (pageSerial === serial) {
      const g = Number(view.getBigInt64(at + 6, true));
      if (g >= 0) granule = g;
      if (b[at + 5]! & 0x04) ended = true;
    }
    at = end;
  }
  if (!codec?.format) throw new Error('truncated header (empty Ogg file)');
  if (!ended) throw new Error('truncated file (the Ogg stream has no end-of-stream page)');
  return { format: codec.format, sampleRate: codec.sampleRate, channelCount: codec.channelCount, frames: Math.max(0, granule - codec.preSkip), preSkip: codec.preSkip };
}

// ---- all formats -------------------------------------------------------------------------------

/** Content signatures of sound formats graft does not decode, for a useful error. */
const UNSUPPORTED: [(b: Uint8Array) => boolean, string][] = [
  [(b) => ascii(b, 4, 4) === 'ftyp', 'MP4/M4A (AAC, ALAC)'],
  [(b) => b[0] === 0xff && (b[1]! & 0xf6) === 0xf0, 'AAC (ADTS)'],
  [(b) => ascii(b, 0, 4) === 'FORM' && ['AIFF', 'AIFC'].includes(ascii(b, 8, 4)), 'AIFF'],
  [(b) => ascii(b, 0, 4) === '.snd', 'Sun/NeXT AU'],
  [(b) => ascii(b, 0, 4) === 'caff', 'Core Audio (CAF)'],
  [(b) => ascii(b, 0, 4) === 'wvpk', 'WavPack'],
  [(b) => ascii(b, 0, 5) === '#!AMR', 'AMR'],
  [(b) => b[0] === 0x30 && b[1] === 0x26 && b[2] === 0xb2 && b[3] === 0x75, 'WMA/ASF'],
  [(b) => ascii(b, 0, 4) === 'MAC ', "Monkey's Audio"],
];

/** The sound format the bytes really are (undefined: none graft decodes). Ogg is told Vorbis from Opus by its first packet. */
export function sniffSound(b: Uint8Array): SoundFormat | undefined {
  if (isWav(b)) return 'wav';
  const start = id3Length(b);
  if (ascii(b, start, 4) === 'fLaC') return 'flac';
  if (ascii(b, 0, 4) === 'OggS' && b.length >= 28) {
    const nseg = b[26]!;
    return oggCodec(b.subarray(27 + nseg, 27 + nseg + 64)).format;
  }
  if (startsMpeg(b)) return 'mp3';
  return undefined;
}

/** Why the bytes are no sound graft reads: the container's name when it is known, else a list of what graft reads. */
export function notSoundReason(b: Uint8Array): string {
  if (b.length === 0) return 'empty file (0 bytes)';
  if (ascii(b, 0, 4) === 'OggS') {
    if (b.length < 28 || b.length < 27 + b[26]! + 8) return `truncated header (Ogg file of ${b.length} bytes)`;
    return `unsupported Ogg codec ${oggCodec(b.subarray(27 + b[26]!)).name}; graft reads Ogg Vorbis and Ogg Opus`;
  }
  const other = UNSUPPORTED.find(([test]) => b.length >= 12 && test(b));
  if (other) return `unsupported format ${other[1]}; graft reads ${Object.values(FORMAT_NAMES).join(', ')}`;
  return `not a sound file graft reads (content is none of ${Object.values(FORMAT_NAMES).join(', ')})`;
}

/** The container's header and framing checked (no samples decoded); throws a one-line reason. */
export function checkContainer(b: Uint8Array): ContainerInfo {
  const format = sniffSound(b);
  switch (format) {
    case 'wav': {
      const w = readWavInfo(b);
      return { format, sampleRate: w.sampleRate, channelCount: w.channelCount, frames: w.frames, preSkip: 0 };
    }
    case 'flac':
      return checkFlac(b, id3Length(b));
    case 'ogg-vorbis':
    case 'ogg-opus':
      return checkOgg(b);
    case 'mp3':
      return checkMpeg(b);
    default:
      throw new Error(notSoundReason(b));
  }
}
