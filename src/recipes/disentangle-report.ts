/** Gathers what `graft disentangle`'s report shows: probes, target accuracies, curves, PCA of each space. */
import { writeDisentangleReport } from '../report/disentangle.js';
import type { Rows } from '../strategies/disentangle/probes.js';
import { gather, sampleRows, scatterOf } from './domain-scatter.js';
import type { DisentangleResult } from './disentangle.js';

export interface DisentangleViews {
  labels: string[];
  sourceY: Int32Array;
  /** Target labels by row, when the target's own folders carry them. */
  targetY?: Int32Array;
  /** Source (training rows) and target rows in each space. */
  spaces: { name: string; source: Rows; target: Rows }[];
  seed: number;
}

export async function disentangleReport(dir: string, res: DisentangleResult, v: DisentangleViews): Promise<void> {
  const ns = v.spaces[0]!.source.n;
  const nt = v.spaces[0]!.target.n;
  const sr = sampleRows(ns, 400, v.seed);
  const tr = sampleRows(nt, 400, v.seed + 1);
  const cls = Int32Array.from([...Array.from(sr, (r) => v.sourceY[r]!), ...Array.from(tr, (r) => (v.targetY ? v.targetY[r]! : -1))]);
  const scatters = v.spaces.flatMap((s) => scatterOf(s.name, { x: gather(s.source.x, s.source.dim, sr), dim: s.source.dim }, { x: gather(s.target.x, s.target.dim, tr), dim: s.target.dim }, sr.length, tr.length, cls, v.seed));
  const st = res.settings;
  await writeDisentangleReport(dir, {
    title: `graft disentangle ${res.source.folder} → ${res.targetData.folder}`,
    summary: {
      backbone: `${res.backbone.name} (${res.backbone.dim} features)`,
      source: `${res.source.folder}: ${res.source.train} train / ${res.source.val} val / ${res.source.test} test images`,
      target: `${res.targetData.folder}: ${res.targetData.images} images (labels ${res.targetData.labels === null ? 'none' : res.targetData.labels === 'target-test' ? 'from --target-test' : 'from its class folders, evaluation only'})`,
      model: `encoders ${res.backbone.dim} → ${st.hidden} → ${st.code}, ${st.epochs} epochs, lr ${st.lr}, dropout ${st.dropout}`,
      weights: `α recon ${st.weights.recon}, β difference ${st.weights.difference}, γ similarity ${st.weights.similarity}`,
      bundle: res.bundle,
      seconds: +res.seconds.toFixed(1),
    },
    probes: [
      { space: 'backbone features', ...res.probes.backbone },
      { space: 'shared code (the bundle classifies from it)', ...res.probes.shared },
      { space: 'private code', ...res.probes.private },
    ],
    classChance: 1 / v.labels.length,
    targets: [
      { model: 'disentangle (DSN shared code)', accuracy: res.targetAccuracy },
      { model: 'source-only', accuracy: res.sourceOnlyTargetAccuracy },
      { model: 'DANN', accuracy: res.dannTargetAccuracy },
    ],
    history: res.history,
    labels: v.labels,
    scatters,
  });
}
