/**
 * Spoken-word datasets from Debian's espeak-ng (offline): every word × voice × speed × pitch is
 * one WAV file in `<out>/<split>/<word>/`. Two held-out splits: `takes` (speed/pitch settings never
 * used in training, voices seen) and `voices` (speakers never heard in training).
 */
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';

export interface SpokenSetOptions {
  words: string[];
  /** espeak-ng voice names (e.g. en+m1, en+f3). */
  voices: string[];
  /** [speed wpm, pitch 0-99] settings. */
  takes: [number, number][];
}

/** Synthesize one utterance to a WAV file; throws with espeak-ng's message on failure. */
export function speak(file: string, text: string, voice: string, speed: number, pitch: number): void {
  const r = spawnSync('espeak-ng', ['-w', file, '-v', voice, '-s', String(speed), '-p', String(pitch), text], { encoding: 'utf8' });
  if (r.error) throw new Error(`espeak-ng: ${r.error.message} (install it: sudo apt-get install espeak-ng)`);
  if (r.status !== 0) throw new Error(`espeak-ng -v ${voice}: ${r.stderr.trim() || `exit ${r.status}`}`);
}

/** Write `<dir>/<word>/<voice>_s<speed>_p<pitch>.wav` for every combination; returns the file count. */
export function writeSpokenSet(dir: string, o: SpokenSetOptions): number {
  let n = 0;
  for (const word of o.words) {
    const d = path.join(dir, word);
    fs.mkdirSync(d, { recursive: true });
    for (const voice of o.voices) {
      for (const [speed, pitch] of o.takes) {
        speak(path.join(d, `${voice.replace(/[^\w-]/g, '_')}_s${speed}_p${pitch}.wav`), word, voice, speed, pitch);
        n++;
      }
    }
  }
  return n;
}
