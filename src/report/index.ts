/** Reports: self-contained report.html pages with PNG plots beside them, and the plots themselves. */
export { writeRunReport, type RunReportInput, type RunKind, type MisclassifiedSample, type ReportStage } from './html.js';
export { writeCompareReport, type CompareReportInput, type ComparePoint } from './compare.js';
export { runReportInput, runSummary, misclassifiedSamples, type RunReportOptions } from './run-input.js';
export { REPORT_FILE, type WrittenReport } from './page.js';
export { linePlotSvg, svgToPng, writeSvgPng, type Series, type PlotOptions } from './plot.js';
export { confusionSvg, type HeatmapOptions } from './heatmap.js';
export { thumbnailPng, type ImageSource } from './thumbs.js';
export { writeClusterReport, type ClusterReportInput } from './cluster.js';
export { scatterSvg, groupColor, type ScatterOptions } from './scatter.js';
