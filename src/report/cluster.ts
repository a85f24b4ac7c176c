/**
 * `report.html` for `graft cluster`: summary, silhouette against k (when k was chosen), cluster
 * sizes (with each cluster's majority folder label and purity when labels exist), a 2-D PCA
 * scatter coloured by cluster, and a thumbnail grid per cluster (most typical images first).
 */
import { GRAFT_VERSION } from '../version.js';
import { escapeHtml as esc, percent } from './format.js';
import { kvTable, Page, pngDataUri, table, type WrittenReport } from './page.js';
import { linePlotSvg } from './plot.js';
import { scatterSvg } from './scatter.js';
import { thumbnailPng, type ImageSource } from './thumbs.js';

export interface ClusterReportInput {
  title: string;
  summary: Record<string, string | number>;
  /** Cluster names (e.g. the folder names of --write-folders), by cluster id. */
  names: string[];
  sizes: number[];
  /** With folder labels: per cluster, its majority label, purity and Hungarian-matched label. */
  labelled?: { majority: string; purity: number; matched: string | null }[];
  /** k chosen by silhouette: the score of every k tried. */
  scores?: { k: number; silhouette: number }[];
  chosenK: number;
  /** The rows on their first two principal components (a sample when there are many). */
  scatter: { xs: ArrayLike<number>; ys: ArrayLike<number>; clusters: ArrayLike<number>; explained: [number, number] };
  /** Per cluster, the images to show (most typical first), each with a caption line. */
  thumbs: (ImageSource & { caption?: string })[][];
}

async function thumbFigure(s: ImageSource & { caption?: string }): Promise<string> {
  const caption = `<figcaption>${s.caption ? `<b>${esc(s.caption)}</b><br>` : ''}<code>${esc(s.id)}</code></figcaption>`;
  try {
    return `<figure><img alt="${esc(s.id)}" src="${pngDataUri(await thumbnailPng(s))}">${caption}</figure>`;
  } catch (e) {
    return `<figure><div class="missing">${esc((e as Error).message)}</div>${caption}</figure>`;
  }
}

/** Write `dir/report.html` with cluster-silhouette.png and cluster-scatter.png beside it. */
export async function writeClusterReport(dir: string, r: ClusterReportInput): Promise<WrittenReport> {
  const page = new Page();
  const k = r.sizes.length;
  const body: string[] = [
    `<h1>${esc(r.title)}</h1>`,
    `<p class="meta">graft ${esc(GRAFT_VERSION)} · cluster · ${k} clusters · written ${esc(new Date().toISOString())}</p>`,
    '<section id="summary"><h2>Summary</h2>',
    kvTable(r.summary),
    '</section>',
  ];
  if (r.scores?.length) {
    const svg = linePlotSvg([{ name: 'silhouette', xs: r.scores.map((s) => s.k), ys: r.scores.map((s) => s.silhouette) }], {
      title: 'Silhouette against the number of clusters',
      xlabel: 'k',
      ylabel: 'mean silhouette',
      markers: [{ x: r.chosenK, label: `k = ${r.chosenK}` }],
    });
    body.push(
      '<section id="silhouette"><h2>Choosing k</h2>',
      await page.plot('cluster-silhouette.png', svg, 'silhouette against k'),
      table(['k', 'silhouette'], r.scores.map((s) => [s.k, +s.silhouette.toFixed(4)]), 'class="silhouette"'),
      '</section>',
    );
  }
  const head = ['cluster', 'images', 'share', ...(r.labelled ? ['majority label', 'purity', 'matched label'] : [])];
  const total = r.sizes.reduce((a, b) => a + b, 0);
  const rows = r.sizes.map((n, c) => [r.names[c], n, percent(n / total), ...(r.labelled ? [r.labelled[c].majority, percent(r.labelled[c].purity), r.labelled[c].matched ?? '—'] : [])]);
  body.push('<section id="clusters"><h2>Cluster sizes</h2>', table(head, rows, 'class="clusters"'), '</section>');
  const { xs, ys, clusters, explained } = r.scatter;
  const scatter = scatterSvg(xs, ys, clusters, {
    title: `Clusters on the first two principal components (${xs.length} images)`,
    xlabel: `PC1 (${percent(explained[0])} of variance)`,
    ylabel: `PC2 (${percent(explained[1])} of variance)`,
    groupNames: r.names,
  });
  body.push('<section id="scatter"><h2>PCA scatter</h2>', await page.plot('cluster-scatter.png', scatter, 'clusters on the first two principal components'), '</section>');
  body.push('<section id="thumbnails"><h2>Images per cluster</h2><p>Most typical first (closest to the cluster mean).</p>');
  for (let c = 0; c < k; c++) {
    const figs = await Promise.all(r.thumbs[c].map(thumbFigure));
    body.push(`<h3 id="cluster-${c}">${esc(r.names[c])} · ${r.sizes[c]} images</h3>`, `<div class="thumbs" data-cluster="${c}">${figs.join('\n')}</div>`);
  }
  body.push('</section>');
  return page.write(dir, r.title, body.join('\n'));
}
