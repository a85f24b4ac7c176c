/**
 * The worker side of OrtWorkerSession (ort-worker.ts): one onnxruntime session living in a worker
 * thread, so its synchronous native run never blocks the main thread's event loop (decoding,
 * hashing and store writes go on while a batch runs). Messages: {id, input, shape} → {id, data,
 * dims} | {id, error}; buffers are transferred, not copied.
 */
import { parentPort, workerData } from 'node:worker_threads';
import * as ort from 'onnxruntime-node';
import { inputTensor, outputOf, sessionOptions } from './ort.js';

interface Init {
  onnx: Uint8Array;
  threads: number;
}

interface RunMessage {
  id: number;
  input: Float32Array | Uint8Array;
  shape: number[];
}

const port = parentPort!;
const init = workerData as Init;

try {
  const session = await ort.InferenceSession.create(init.onnx, sessionOptions(init.threads));
  port.postMessage({ ready: true, inputNames: session.inputNames, outputNames: session.outputNames });
  port.on('message', async (m: RunMessage | 'release') => {
    if (m === 'release') {
      await session.release();
      port.close();
      return;
    }
    try {
      const out = outputOf(await session.run({ [session.inputNames[0]!]: inputTensor(m.input, m.shape) }), session.outputNames[0]!);
      const data = out.data.byteOffset === 0 && out.data.byteLength === out.data.buffer.byteLength ? out.data : out.data.slice();
      port.postMessage({ id: m.id, data, dims: out.dims }, [data.buffer as ArrayBuffer]);
    } catch (e) {
      port.postMessage({ id: m.id, error: (e as Error).message });
    }
  });
} catch (e) {
  port.postMessage({ ready: false, error: (e as Error).message });
}
