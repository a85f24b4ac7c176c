/** Every layer of some models, nested models' layers included (each layer once, in order). */
import type * as tfl from '@tensorflow/tfjs-layers';

export function allLayers(models: tfl.LayersModel[]): tfl.layers.Layer[] {
  const out: tfl.layers.Layer[] = [];
  const seen = new Set<tfl.layers.Layer>();
  const walk = (layers: tfl.layers.Layer[]) => {
    for (const l of layers) {
      if (seen.has(l)) continue;
      seen.add(l);
      out.push(l);
      const inner = (l as unknown as { layers?: tfl.layers.Layer[] }).layers;
      if (Array.isArray(inner)) walk(inner);
    }
  };
  for (const m of models) walk(m.layers);
  return out;
}
