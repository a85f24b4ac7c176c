/** `graft cluster DIR --k auto|N [--out DIR] [--write-folders]`: structure in unlabelled images (src/recipes/cluster.ts). */
import { list, num, str } from '../args.js';
import { COMMON, DATA, ENGINE, MODEL, RUN, engineOpts, modelOpts } from '../options.js';
import { emit, pct, skippedSummary } from '../output.js';
import { defineCommand, pick } from '../spec.js';

/** "2-20" → [2, 20]. */
function range(s: string | undefined): [number, number] | undefined {
  if (s === undefined) return undefined;
  const m = /^(\d+)-(\d+)$/.exec(s.trim());
  if (!m) throw new Error(`--k-range expects LO-HI (e.g. 2-20), got "${s}"`);
  return [Number(m[1]), Number(m[2])];
}

/** "auto" or an integer ≥ 2. */
function kOf(s: string | undefined): number | 'auto' {
  if (s === undefined || s === 'auto') return 'auto';
  const k = Number(s);
  if (!Number.isInteger(k) || k < 2) throw new Error(`--k must be auto or an integer ≥ 2, got "${s}"`);
  return k;
}

export default defineCommand({
  name: 'cluster',
  summary: 'group unlabelled images by backbone features (k-means / Ward) → report.html, cluster folders to rename and train on',
  usage: ['graft cluster DIR [--k auto|N] [--out DIR] [--write-folders] [--method kmeans|ward] [--pca D] [options]'],
  groups: [
    [
      'cluster options',
      {
        k: { type: 'string', arg: 'auto|N', default: 'auto', help: 'number of clusters (≥ 2), or auto: the best silhouette over --k-range' },
        'k-range': { type: 'string', arg: 'LO-HI', default: '2-20', help: '--k auto: the k tried (up to images − 1)' },
        method: { type: 'string', arg: 'kmeans|ward', default: 'kmeans', help: 'k-means++ with restarts, or agglomerative Ward (≤ 12,000 images)' },
        out: { type: 'string', short: 'o', arg: 'DIR', help: 'clusters.json, report.html + plots (and folders/); without it only the result is printed' },
        'write-folders': { type: 'boolean', help: 'OUT/folders/cluster_NN/…: hard links to the images (copies across filesystems); sources untouched' },
        copy: { type: 'boolean', help: '--write-folders: copy the files instead of hard-linking them' },
        pca: { type: 'string', arg: 'D|none', default: '32', help: 'project the L2-normalised features on D principal components (at most images/10) first' },
        whiten: { type: 'string', arg: 'yes|no', default: 'yes', help: '--pca: whiten the components (then L2-normalise again)' },
        restarts: { type: 'string', arg: 'N', default: '4', help: 'k-means: seeded k-means++ runs, the lowest inertia wins' },
        'silhouette-sample': { type: 'string', arg: 'N', default: '2000', help: 'images the silhouette is computed on (a seeded sample)' },
        thumbs: { type: 'string', arg: 'N', default: '12', help: 'report: thumbnails per cluster' },
        seed: { type: 'string', arg: 'N', default: '0', help: 'seeds k-means++, PCA and the samples' },
        ...pick(RUN, 'from'),
      },
    ],
    ['model options', MODEL],
    ['data options', pick(DATA, 'classes', 'limit-per-class')],
    ['engine options', ENGINE],
    ['common options', COMMON],
  ],
  examples: [
    'graft cluster ./unsorted --k auto --out ./clusters                 # report.html: a thumbnail grid per cluster',
    'graft cluster ./unsorted --k 12 --out ./clusters --write-folders   # rename ./clusters/folders/cluster_03, then graft train ./clusters/folders',
    'graft cluster ./labelled --k 10 --json                             # folder labels: NMI, ARI, Hungarian-matched accuracy',
  ],
  async run(pos, v, r) {
    if (pos.length !== 1) throw new Error('usage: graft cluster DIR [--k auto|N] [--out DIR]');
    const { clusterRecipe } = await import('../../recipes/cluster.js');
    const res = await clusterRecipe({
      ...engineOpts(v),
      ...modelOpts(v),
      data: pos[0],
      out: str(v, 'out'),
      k: kOf(str(v, 'k')),
      kRange: range(str(v, 'k-range')),
      method: str(v, 'method', ['kmeans', 'ward'] as const),
      pca: str(v, 'pca') === 'none' ? null : num(v, 'pca'),
      whiten: str(v, 'whiten', ['yes', 'no'] as const) !== 'no',
      restarts: num(v, 'restarts'),
      silhouetteSample: num(v, 'silhouette-sample'),
      thumbs: num(v, 'thumbs'),
      seed: num(v, 'seed'),
      writeFolders: !!v['write-folders'],
      copy: !!v.copy,
      from: str(v, 'from'),
      classes: list(v, 'classes'),
      limitPerClass: num(v, 'limit-per-class'),
      strict: !!v.strict,
      reporter: r,
    });
    emit(!!v.json, res, () =>
      [
        `${res.method}: ${res.k} clusters of ${res.features.n} images (${res.backbone.name} features${res.features.pca !== null ? `, PCA ${res.features.pca}${res.features.whiten ? ' whitened' : ''}` : ''}); silhouette ${res.silhouette.toFixed(3)}`,
        res.nmi !== null ? `against the folder labels: NMI ${res.nmi.toFixed(3)}, ARI ${res.ari!.toFixed(3)}, Hungarian-matched accuracy ${pct(res.accuracy!)}` : '',
        `sizes: ${res.clusters.map((c) => `${c.name} ${c.size}${c.majority !== undefined ? ` (${c.majority} ${pct(c.purity)})` : ''}`).join(', ')}`,
        `time: features ${res.seconds.features.toFixed(1)} s (${res.features.computed} computed, ${res.features.cached} cached), clustering ${res.seconds.cluster.toFixed(1)} s`,
        res.folders ? `folders: ${res.folders.dir} (${res.folders.linked} linked, ${res.folders.copied} copied, ${res.folders.encoded} written as PNG): rename them, then graft train ${res.folders.dir}` : '',
        res.report ? `report: ${res.report}` : '',
        skippedSummary(res.skipped),
      ]
        .filter(Boolean)
        .join('\n'),
    );
  },
});
