/**
 * Giving a backbone the audio front-end: its preprocessing gains `audio` (a copy of the spec, the
 * registry entry is untouched), so decodeToRgb reads sound files through the front-end, the feature
 * store's key and the saved bundle carry the parameters, and prediction reproduces them.
 */
import type { Backbone } from '../models/types.js';
import type { AudioFrontend } from './frontend.js';

export function adoptAudio(backbone: Backbone, fe: AudioFrontend | undefined): Backbone {
  if (fe && JSON.stringify(backbone.spec.preprocess.audio) !== JSON.stringify(fe)) {
    backbone.spec = { ...backbone.spec, preprocess: { ...backbone.spec.preprocess, audio: fe } };
  }
  return backbone;
}
