/**
 * The block size of onnxruntime CPU's blocked-layout (NCHWc) kernels on this machine, or null where this build has
 * none. MLAS picks it from the CPU (8 channels with AVX2, 16 with AVX-512) and does not expose it, so we ask the
 * kernel itself: ReorderInput pads a 4-channel tensor up to one block.
 */
import * as ort from 'onnxruntime-node';
import { NCHWC_DOMAIN } from './autodiff/nchwc-conv.ts';
import { DataType, encodeModel, IR_VERSION, valueInfo } from './onnx-proto.ts';

let probed: Promise<number | null> | null = null;

export function nchwcBlockSize(): Promise<number | null> {
  probed ??= probe();
  return probed;
}

async function probe(): Promise<number | null> {
  const bytes = encodeModel({
    irVersion: IR_VERSION,
    producerName: 'diffusion-studio',
    producerVersion: '0.1.0',
    graph: {
      name: 'nchwc_probe',
      node: [
        { opType: 'ReorderInput', domain: NCHWC_DOMAIN, input: ['x'], output: ['y'], name: 'reorder', attribute: [] },
      ],
      initializer: [],
      input: [valueInfo('x', DataType.FLOAT, [1, 4, 1, 1])],
      output: [valueInfo('y', DataType.FLOAT, [1, 'c', 1, 1])],
    },
    opsetImport: [
      { domain: '', version: 17 },
      { domain: NCHWC_DOMAIN, version: 1 },
    ],
    metadataProps: [],
  });
  let session: ort.InferenceSession | null = null;
  try {
    session = await ort.InferenceSession.create(bytes, { executionProviders: ['cpu'], logSeverityLevel: 4 });
    const out = await session.run({ x: new ort.Tensor('float32', new Float32Array(4), [1, 4, 1, 1]) });
    const block = Number(out.y.dims[1]);
    // A block of 4 channels or fewer would make every tensor "blocked" without gain; MLAS never picks one.
    return block > 4 ? block : null;
  } catch {
    return null;
  } finally {
    await session?.release();
  }
}
