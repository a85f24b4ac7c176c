/**
 * torchvision-architecture parity: graft's tfjs re-implementations (src/models/tv/) and their
 * ONNX conversions must compute what PyTorch computes, on the same random weights.
 *
 * test/py/make_tv_fixture.py (Debian python3-torch / torchvision 0.14) builds each architecture
 * with random weights and randomised BatchNorm statistics, and writes its state dict as .pth and as
 * safetensors, a fixed input batch, and the reference logits and pooled features (computed in
 * float64, see the script). graft reads both files, builds the network, runs it in tfjs and in
 * onnxruntime, and must match within 1e-4 (max abs diff / max(1, max |reference|)).
 * Then the error paths: wrong architecture, missing/unexpected keys, truncated files, no weights,
 * and the 'imagenet' cache/download path.
 *
 * Run: node --import tsx --test test/zoo-parity.test.ts
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import http from 'node:http';
import os from 'node:os';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import * as tfl from '@tensorflow/tfjs-layers';
import { tf, initTf } from '../src/engine/tfjs.js';
import { OrtSession } from '../src/engine/ort.js';
import { layersModelToOnnx } from '../src/convert/tfjs-to-onnx.js';
import { readStateDict, writeSafetensors, type SafetensorsInput } from '../src/import/index.js';
import { openBackbone } from '../src/models/backbone.js';
import { getBackbone } from '../src/models/registry.js';
import { buildTvModel, getTvArch, getTvTag, resolveTvWeights } from '../src/models/tv/index.js';
import { DownloadError } from '../src/util/download.js';
import { decodeNpy } from '../src/util/npy.js';
import { extractTensor } from '../src/recipes/extract.js';
import { PYTHON, skipUnless } from './extras.js';

const SCRIPT = path.join(import.meta.dirname, 'py', 'make_tv_fixture.py');
const TOL = 1e-4;
// Debian's python3-torch + python3-torchvision: skipped with the apt line on a Node-only machine, a failure in CI.
const skip = skipUnless('torch', 'torchvision');

/** Architecture → fixture input side (small where the architecture allows; resnet18 at its real 224). */
const FIXTURES: [string, number][] = [
  ['resnet18', 224],
  ['resnet50', 64],
  ['mobilenet_v2', 64],
  ['vgg16', 32], // features end 1×1: AdaptiveAvgPool2d(7) copies it into all 49 cells
  ['vgg16_bn', 64], // 2×2 → 7×7: overlapping adaptive windows
  ['resnet34', 64],
  ['efficientnet_b0', 64],
  ['mobilenet_v3_small', 64],
  ['mobilenet_v3_large', 64],
  ['inception_v3', 139], // ≥ 75; 139 leaves a 3×3 map for Mixed_7*
];

interface ManifestEntry {
  size: number;
  params: number;
  featureDim: number;
  classes: number;
  torchFp32Error: { logits: number; features: number };
}

let dir: string;
let manifest: Record<string, ManifestEntry>;
const results: string[] = [];

function npy(file: string): Float32Array {
  return decodeNpy(fs.readFileSync(file), file).data as Float32Array;
}

/** max |a − ref| / max(1, max |ref|) */
function relErr(a: ArrayLike<number>, ref: ArrayLike<number>): number {
  assert.equal(a.length, ref.length, 'output sizes differ');
  let d = 0;
  let m = 0;
  for (let i = 0; i < ref.length; i++) {
    d = Math.max(d, Math.abs(a[i]! - ref[i]!));
    m = Math.max(m, Math.abs(ref[i]!));
  }
  return d / Math.max(1, m);
}

async function ortRun(model: tfl.LayersModel, layer: string, x: Float32Array, shape: number[]): Promise<Float32Array> {
  const session = await OrtSession.create(layersModelToOnnx(model, { output: layer }), { threads: 2 });
  try {
    return (await session.run(x, shape)).data;
  } finally {
    await session.release();
  }
}

describe('torchvision architectures: graft (tfjs and ORT) = PyTorch', { skip }, () => {
  before(async () => {
    await initTf();
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'graft-zoo-'));
    process.env.GRAFT_HOME = path.join(dir, 'home');
    const r = spawnSync(PYTHON, [SCRIPT, dir, ...FIXTURES.map(([a, s]) => `${a}:${s}`)], { encoding: 'utf8', timeout: 400_000 });
    assert.equal(r.status, 0, `fixture script failed (${r.signal ?? r.status}):\n${r.stderr}`);
    manifest = JSON.parse(fs.readFileSync(path.join(dir, 'manifest.json'), 'utf8')) as Record<string, ManifestEntry>;
  });

  after(() => {
    if (results.length) console.log(`zoo parity (max abs diff / max(1, max |ref|), vs a float64 reference):\n${results.join('\n')}`);
    if (dir) fs.rmSync(dir, { recursive: true, force: true });
  });

  for (const [arch, size] of FIXTURES) {
    it(`${arch} @${size}: .pth = .safetensors; logits and features match PyTorch in tfjs and ORT`, async (t) => {
      const m = manifest[arch]!;
      const file = (ext: string) => path.join(dir, `${arch}.${ext}`);

      // The two files carry the same state dict.
      const sd = readStateDict(file('pth'));
      {
        const st = readStateDict(file('safetensors'));
        assert.deepEqual([...st.keys()], [...sd.keys()]);
        for (const [k, v] of sd) {
          const w = st.get(k)!;
          assert.deepEqual(w.shape, v.shape, k);
          assert.ok(Buffer.from(w.data.buffer, w.data.byteOffset, w.data.byteLength).equals(Buffer.from(v.data.buffer, v.data.byteOffset, v.data.byteLength)), `${k} differs between .pth and .safetensors`);
        }
      }

      const a = getTvArch(arch);
      assert.equal(a.params, m.params, 'registered parameter count = torchvision count');
      const { net, model } = buildTvModel(a, sd, [size, size], file('pth'));
      sd.clear();
      try {
        assert.equal(net.paramCount(), m.params, 'built network has torchvision parameter count');
        assert.equal(a.featureDim, m.featureDim);
        for (const cut of a.cutPoints) assert.ok(model.getLayer(cut), `cut point ${cut}`);

        const x = npy(file('input.npy'));
        const shape = [2, size, size, 3];
        const refLogits = npy(file('logits.npy'));
        const refFeatures = npy(file('features.npy'));
        const logitsLayer = model.outputs[0]!.sourceLayer.name;

        const both = tfl.model({ inputs: model.inputs, outputs: [model.getLayer(a.featureLayer).output as tfl.SymbolicTensor, model.outputs[0]!] });
        const [tf0, tf1] = tf.tidy(() => {
          const [f, l] = both.predict(tf.tensor4d(x, shape as [number, number, number, number])) as tf.Tensor[];
          return [f!.dataSync() as Float32Array, l!.dataSync() as Float32Array];
        });
        const err = {
          tfjsLogits: relErr(tf1, refLogits),
          tfjsFeatures: relErr(tf0, refFeatures),
          ortLogits: relErr(await ortRun(model, logitsLayer, x, shape), refLogits),
          ortFeatures: relErr(await ortRun(model, a.featureLayer, x, shape), refFeatures),
        };
        const line =
          `  ${arch.padEnd(19)} @${String(size).padEnd(3)} tfjs logits ${err.tfjsLogits.toExponential(1)} features ${err.tfjsFeatures.toExponential(1)}` +
          ` | ORT logits ${err.ortLogits.toExponential(1)} features ${err.ortFeatures.toExponential(1)}` +
          ` | torch fp32 ${m.torchFp32Error.logits.toExponential(1)} / ${m.torchFp32Error.features.toExponential(1)}`;
        results.push(line);
        t.diagnostic(line.trim());
        for (const [k, v] of Object.entries(err)) assert.ok(v <= TOL, `${arch}: ${k} error ${v} > ${TOL}`);
      } finally {
        model.dispose();
      }
    });
  }

  it('resnet18.tv_in1k through the registry: openBackbone with --weights FILE on both engines', async () => {
    const ref = npy(path.join(dir, 'resnet18.features.npy'));
    const x = npy(path.join(dir, 'resnet18.input.npy'));
    for (const [engine, ext] of [['ort', 'pth'], ['tfjs', 'safetensors']] as const) {
      const bb = await openBackbone('resnet18.tv_in1k', { engine, weights: path.join(dir, `resnet18.${ext}`), threads: 2 });
      try {
        assert.equal(bb.dim, 512);
        const err = relErr(await bb.extract(x, 2), ref);
        assert.ok(err <= TOL, `${engine}: ${err}`);
      } finally {
        await bb.dispose();
      }
    }
    const spec = getBackbone('resnet18');
    assert.equal(spec.name, 'resnet18.tv_in1k');
    assert.deepEqual(spec.preprocess, { size: [224, 224], resize: 'center-crop', cropFraction: 224 / 256, mean: [0.485, 0.456, 0.406], std: [0.229, 0.224, 0.225] });
    assert.equal(spec.bundled, false);
    assert.equal(await spec.paramCount(), 11_689_512);
    assert.equal(getBackbone('inception_v3.tv_in1k').preprocess.cropFraction, 299 / 342);
  });

  it('graft extract --tensor: logits and features of a preprocessed .npy match PyTorch', async () => {
    for (const [layer, ref, dim] of [['logits', 'resnet18.logits.npy', 1000], [undefined, 'resnet18.features.npy', 512]] as const) {
      const out = path.join(dir, `cli-${layer ?? 'features'}.npy`);
      const r = await extractTensor({ tensor: path.join(dir, 'resnet18.input.npy'), out, backbone: 'resnet18', weights: path.join(dir, 'resnet18.pth'), layer, threads: 2 });
      assert.equal(r.dim, dim);
      assert.equal(r.n, 2);
      const got = decodeNpy(fs.readFileSync(out));
      assert.deepEqual(got.shape, [2, dim]);
      const err = relErr(got.data as Float32Array, npy(path.join(dir, ref)));
      assert.ok(err <= TOL, `${layer ?? 'features'}: ${err}`);
    }
    await assert.rejects(
      extractTensor({ tensor: path.join(dir, 'mobilenet_v2.input.npy'), out: path.join(dir, 'x.npy'), backbone: 'resnet18', weights: path.join(dir, 'resnet18.pth') }),
      /takes 224×224 inputs, the tensor is 64×64/,
    );
  });

  describe('bad weights are clear errors', () => {
    const resnet18 = () => getBackbone('resnet18.tv_in1k');

    it('wrong architecture: names the first tensor whose shape differs, with both shapes', async () => {
      const file = path.join(dir, 'resnet50.pth');
      await assert.rejects(
        resnet18().load({ weights: file }),
        (e: Error) => {
          assert.match(e.message, /^resnet18: the weights in .*resnet50\.pth do not fit this architecture:/);
          assert.match(e.message, /shape mismatch at layer1\.0\.conv1\.weight: the file has \[64, 64, 1, 1\], resnet18 expects \[64, 64, 3, 3\] \(\d+ more tensors differ\)/);
          assert.match(e.message, /unexpected keys \(\d+\): layer1\.0\.conv3\.weight, /);
          assert.match(e.message, /different architecture than resnet18/);
          return true;
        },
      );
      // Shapes that agree but blocks that do not: resnet18 weights into resnet34.
      const sd = readStateDict(path.join(dir, 'resnet18.pth'));
      assert.throws(() => buildTvModel(getTvArch('resnet34'), sd, [64, 64]), /resnet34: the weights do not fit this architecture:\n {2}missing keys \(\d+\): layer1\.2\.conv1\.weight, /);
    });

    it('missing and unexpected keys are listed', async () => {
      const sd = readStateDict(path.join(dir, 'resnet18.safetensors'));
      const out = new Map<string, SafetensorsInput>();
      for (const [k, v] of sd) if (k !== 'fc.bias' && k !== 'layer4.1.bn2.running_var') out.set(k, { shape: v.shape, data: v.data });
      out.set('extra.weight', { shape: [2], data: new Float32Array(2) });
      out.set('fc.scale', { shape: [1], data: new Float32Array(1) });
      const file = path.join(dir, 'edited.safetensors');
      fs.writeFileSync(file, writeSafetensors(out));
      await assert.rejects(resnet18().load({ weights: file }), (e: Error) => {
        assert.match(e.message, /missing keys \(2\): layer4\.1\.bn2\.running_var, fc\.bias/);
        assert.match(e.message, /unexpected keys \(2\): extra\.weight, fc\.scale/);
        assert.doesNotMatch(e.message, /shape mismatch/);
        return true;
      });
    });

    it('a truncated file names the file and says it is truncated', async () => {
      for (const ext of ['pth', 'safetensors']) {
        const whole = fs.readFileSync(path.join(dir, `resnet18.${ext}`));
        const file = path.join(dir, `truncated.${ext}`);
        fs.writeFileSync(file, whole.subarray(0, whole.length >> 1));
        await assert.rejects(resnet18().load({ weights: file }), new RegExp(`^Error: resnet18\\.tv_in1k: cannot read weights from .*truncated\\.${ext}: .*truncated`, 's'));
      }
    });

    it('no --weights, or a missing file, is refused before anything is read', async () => {
      const msg = /^Error: resnet18\.tv_in1k needs --weights FILE or --weights imagenet$/;
      await assert.rejects(resnet18().load(), msg);
      await assert.rejects(resnet18().load({}), msg);
      await assert.rejects(openBackbone('resnet18.tv_in1k'), msg);
      await assert.rejects(resnet18().load({ weights: path.join(dir, 'nope.pth') }), /resnet18\.tv_in1k: weights file .*nope\.pth does not exist/);
    });
  });

  describe("'imagenet': the cached file when its sha256 is right, else a download (offline: where to put it)", () => {
    let closedUrl: string;
    before(async () => {
      const srv = http.createServer();
      await new Promise<void>((r) => srv.listen(0, '127.0.0.1', r));
      const port = (srv.address() as { port: number }).port;
      await new Promise<void>((r) => srv.close(() => r()));
      closedUrl = `http://127.0.0.1:${port}/models/`;
    });

    it('uses, verifies and refuses cached files without the network', async () => {
      const bytes = fs.readFileSync(path.join(dir, 'mobilenet_v3_small.pth'));
      const sha256 = (await import('node:crypto')).createHash('sha256').update(bytes).digest('hex');
      const src = { file: 'fake-tv.pth', url: `${closedUrl}fake-tv.pth`, sha256 };
      const cached = path.join(process.env.GRAFT_HOME!, 'weights', 'fake-tv.pth');

      // absent + offline: the error says where to place the file and what it must hash to
      await assert.rejects(resolveTvWeights('x.tv_in1k', src, { weights: 'imagenet' }), (e: Error) => {
        assert.ok(e instanceof DownloadError && e.kind === 'offline', String(e));
        assert.ok(e.message.includes(cached) && e.message.includes(sha256), e.message);
        return true;
      });
      // present with the right sha256: used as is
      fs.mkdirSync(path.dirname(cached), { recursive: true });
      fs.writeFileSync(cached, bytes);
      assert.deepEqual(await resolveTvWeights('x.tv_in1k', src, { weights: 'imagenet' }), { file: cached, sha256 });
      // present but different: not trusted (a re-download is tried, which fails offline)
      fs.writeFileSync(cached, bytes.subarray(0, 1000));
      await assert.rejects(resolveTvWeights('x.tv_in1k', src, { weights: 'imagenet' }), /is there but has sha256 [0-9a-f]{64}, not the published file's/);
    });

    it('the registered tags pin full sha256s; torchvision file names carry their first 8 hex digits', () => {
      for (const arch of FIXTURES.map(([a]) => a)) {
        const name = `${arch}.tv_in1k`;
        const spec = getBackbone(name);
        const w = getTvTag(name).weights;
        assert.equal(spec.bundled, false);
        assert.match(w.sha256, /^[0-9a-f]{64}$/);
        assert.equal(w.url, `https://download.pytorch.org/models/${w.file}`);
        // efficientnet_b0's published name carries the prefix of the timm file it was ported from
        if (arch !== 'efficientnet_b0') assert.ok(w.file.includes(`-${w.sha256.slice(0, 8)}.`), `${w.file} / ${w.sha256}`);
      }
    });
  });
});
