/** What the route modules share: the model registry, the limits and a log. */
import type { ImageLimits } from './images.js';
import type { ModelRegistry, RegistryLog } from './registry.js';

export interface Limits extends ImageLimits {
  /** Whole request body, bytes. */
  maxBodyBytes: number;
  /** Images (or batch rows) per request. */
  maxImagesPerRequest: number;
}

export const DEFAULT_LIMITS: Limits = {
  maxBodyBytes: 64 << 20,
  maxImageBytes: 16 << 20,
  maxPixels: 40_000_000,
  maxImagesPerRequest: 64,
};

export interface ServerContext {
  registry: ModelRegistry;
  limits: Limits;
  log: RegistryLog;
}
