/** graft's public API, layered like fastai: recipes over a mid layer over engines. */
// Recipes
export { trainClassifier, type TrainOptions, type TrainResult } from './recipes/train.js';
export { Classifier, type Prediction } from './recipes/predict.js';
export { evaluateBundle, type EvalResult } from './recipes/evaluate.js';
export { extractFolder, type ExtractResult, type FeatureFormat } from './recipes/extract.js';
export { runDemo, type DemoOptions } from './recipes/demo.js';
export { zooTable, zooEntry, type ZooRow } from './recipes/zoo.js';
export { dataGet } from './recipes/data-get.js';
export { finetuneClassifier, fitTailModel, resolveCut, type FinetuneOptions, type FinetuneResult } from './recipes/finetune.js';
export { transferRecipe, type TransferOptions, type TransferResult } from './recipes/transfer.js';
export { compareRecipe, type CompareOptions, type CompareResult, type ComparePoint as CompareStudyPoint } from './recipes/compare.js';
export { exportOnnx, type ExportOptions, type ExportResult } from './recipes/export.js';
export { exportTfjs, type TfjsExportOptions, type TfjsExportResult } from './recipes/export-tfjs.js';
export { exportTeachableMachine, type TeachableExportResult } from './recipes/export-teachable.js';
export { fitPrototypeHead, addClass, type AddClassOptions, type AddClassResult } from './recipes/prototype.js';
export { fewShotRecipe, type FewShotOptions, type FewShotResult } from './recipes/fewshot.js';
export { zeroShotRecipe, type ZeroShotOptions, type ZeroShotResult } from './recipes/zeroshot.js';
export { evaluateZeroShot, type ZslEvalResult } from './recipes/zsl-eval.js';
export { writeShapesDataset } from './data/shapes.js';
export { clusterRecipe, type ClusterOptions, type ClusterResult } from './recipes/cluster.js';
export { bundleSpec } from './models/bundle-backbone.js';
export { loadBundleNetwork, type BundleNetwork } from './bundle/network.js';
export * from './report/index.js';
export { download, DownloadError } from './util/download.js';
// Mid layer
export { openBackbone, frozenOnnx, type OpenOptions } from './models/backbone.js';
export { resolveBackbone } from './models/resolve.js';
export { registerBackbone, getBackbone, listBackbones, DEFAULT_BACKBONE } from './models/registry.js';
export type { Backbone, BackboneSpec, EngineName } from './models/types.js';
export { extractFeatures, openStoreFor, type ExtractOptions, type FeatureMatrix } from './features/extract.js';
export { FeatureStore, extractorId } from './features/store.js';
export { buildHead, foldStandardization, columnStats, standardize, type HeadSpec, type HeadKind } from './train/heads.js';
export { Trainer, scheduledLr, type Callback, type EpochLogs, type Examples, type Rows, type TrainerOptions, type OptimizerName, type ScheduleName } from './train/trainer.js';
export { toSource, imageSource, sourceProbabilities, EVAL_EPOCH, type BatchSource } from './train/source.js';
export { peekCheckpoint, type CheckpointOptions, type TrainProgress } from './train/checkpoint.js';
export { lbfgsMinimize } from './train/lbfgs.js';
export { GraftCentreL2, centreL2, centreL2Head } from './train/centre-l2.js';
export { fitTemperature } from './train/temperature.js';
export { evaluateScores, formatEvaluation, type Evaluation } from './eval/metrics.js';
export { saveBundle, loadBundle, readBundleMeta, type BundleMeta, type PrototypeHeadSpec, type ZeroShotHeadSpec } from './bundle/bundle.js';
export * from './data/index.js';
// Weight importers (safetensors, PyTorch .pth via a restricted unpickler)
export { readStateDict, parseStateDict, readSafetensors, writeSafetensors, readTorchCheckpoint, type StateDict, type ImportedTensor } from './import/index.js';
// Low layer
export { initTf, tf } from './engine/tfjs.js';
export { OrtSession } from './engine/ort.js';
export { layersModelToOnnx, type ConvertOptions } from './convert/tfjs-to-onnx.js';
