/**
 * The same weights give the same outputs in tfjs (cpu backend) and onnxruntime (cpu provider): tiny U-Nets with
 * class labels (the null class included) and learned variance, the MLP on 2-D data, the small U-Net at 28x28, and a
 * whole sampler run with classifier-free guidance over both engines.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { classifierFreeGuidance, NULL_LABEL, type LabeledDenoiser } from '../../src/core/guidance.ts';
import { buildNoiseGrid } from '../../src/core/noise-grid.ts';
import { vpDenoiser, type VpModel } from '../../src/core/parameterization.ts';
import { BatchNoise, initialNoise, StreamPurpose } from '../../src/core/rng.ts';
import { getSampler } from '../../src/core/samplers/index.ts';
import { exportOnnx, META, ONNX_OPSET } from '../../src/engines/onnx/export.ts';
import { decodeModel } from '../../src/engines/onnx/onnx-proto.ts';
import { OnnxModelSession, onnxVpModel } from '../../src/engines/onnx/session.ts';
import { useBackend } from '../../src/engines/tfjs/backend.ts';
import { TfjsModel, tfjsVpModel } from '../../src/engines/tfjs/model.ts';
import { modelPreset, type DataSpec, type PresetName } from '../../src/model/config.ts';
import { buildIR, numel, type ModelIR } from '../../src/model/ir.ts';

/** Deterministic uniform values (mulberry32). */
function uniform(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/**
 * Random weights with every parameter nonzero (the real init zeroes conv2 / proj / conv_out, which would hide
 * mistakes behind zeros): weights U(-1.5, 1.5) / sqrt(fan_in), norm scales around 1, biases and embeddings small.
 */
function randomParams(ir: ModelIR, seed: number): Map<string, Float32Array> {
  const r = uniform(seed);
  return new Map(
    ir.params.map((p) => {
      const n = numel(p.shape);
      const fanIn = p.layout === 'conv2d' || p.layout === 'linear' ? numel(p.shape.slice(1)) : 1;
      const scale = p.layout === 'vector' || p.layout === 'embedding' ? 0.5 : 1.5 / Math.sqrt(fanIn);
      const base = p.init.kind === 'ones' ? 1 : 0;
      return [p.name, Float32Array.from({ length: n }, () => base + scale * (2 * r() - 1))];
    }),
  );
}

function inputs(ir: ModelIR, b: number, seed: number): Float32Array {
  const r = uniform(seed);
  return Float32Array.from({ length: b * numel(ir.inputs.x.shape) }, () => 2 * r() - 1);
}

function maxAbsDiff(a: ArrayLike<number>, b: ArrayLike<number>): number {
  expect(a.length).toBe(b.length);
  let m = 0;
  for (let i = 0; i < a.length; i++) m = Math.max(m, Math.abs(a[i] - b[i]));
  return m;
}

const INFO = { prediction: 'eps', schedule: 'linear', timesteps: 1000 } as const;

async function bothEngines(ir: ModelIR, params: Map<string, Float32Array>) {
  const tfjs = TfjsModel.create(ir, params);
  const onnx = await OnnxModelSession.create(exportOnnx(ir, params, INFO), { providers: ['cpu'] });
  return { tfjs, onnx };
}

beforeAll(async () => {
  await useBackend('cpu');
});

describe('ONNX export matches tfjs', () => {
  const engines: { tfjs: TfjsModel; onnx: OnnxModelSession }[] = [];
  afterAll(async () => {
    for (const e of engines) {
      e.tfjs.dispose();
      await e.onnx.release();
    }
  });

  const cases: [string, PresetName, DataSpec][] = [
    [
      'tiny 16x16x1, 3 classes, learned variance',
      'tiny',
      { channels: 1, size: 16, numClasses: 3, learnedVariance: true },
    ],
    ['tiny 8x8x3, unconditional', 'tiny', { channels: 3, size: 8 }],
    ['tiny 8x8x3, 10 classes', 'tiny', { channels: 3, size: 8, numClasses: 10 }],
    [
      'mlp tiny on 2-D data, 4 classes, learned variance',
      'tiny',
      { channels: 2, numClasses: 4, learnedVariance: true },
    ],
    ['mlp small on 2-D data', 'small', { channels: 2 }],
    ['small 28x28x1 (1.6M parameters)', 'small', { channels: 1, size: 28, numClasses: 10 }],
  ];
  it.each(cases)('%s', async (_name, preset, data) => {
    const ir = buildIR(modelPreset(preset, data));
    const params = randomParams(ir, 7);
    const e = await bothEngines(ir, params);
    engines.push(e);
    // The 28x28 U-Net takes seconds per forward on the tfjs cpu backend: a smaller check there.
    const big = numel(ir.inputs.x.shape) > 256;
    const b = big ? 2 : 4;
    const x = inputs(ir, b, 11);
    const conditional = (data.numClasses ?? 0) > 0;
    // Real classes, the null class both ways (-1 and numClasses), and a large fractional timestep.
    const labels = conditional
      ? Int32Array.of(0, NULL_LABEL, data.numClasses!, data.numClasses! - 1).subarray(0, b)
      : undefined;
    for (const t of big ? [17.25] : [0, 17.25, 999]) {
      const want = e.tfjs.predictBatch(x, t, labels);
      const got = await e.onnx.predictBatch(x, t, labels);
      const diff = maxAbsDiff(got, want);
      const scale = Math.max(...Array.from(want, Math.abs));
      expect(scale).toBeGreaterThan(0.1); // the comparison is not between zeros
      if (process.env.PARITY_LOG) console.log(_name, t, diff, scale);
      expect(diff).toBeLessThanOrEqual(1e-4);
    }
    if (conditional && !big) {
      // Omitted labels = the null class, as in tfjs.
      expect(maxAbsDiff(await e.onnx.predictBatch(x, 5), e.tfjs.predictBatch(x, 5))).toBeLessThanOrEqual(1e-4);
    }
  });

  it('writes opset 17, the NHWC interface and the metadata', () => {
    const ir = buildIR(modelPreset('tiny', { channels: 1, size: 8, numClasses: 3, learnedVariance: true }));
    const bytes = exportOnnx(ir, randomParams(ir, 1), { ...INFO, prediction: 'v', step: 42, ema: true });
    const model = decodeModel(bytes);
    expect(model.opsetImport.map((o) => o.version)).toEqual([ONNX_OPSET]);
    const dims = (v: (typeof model.graph.input)[number]) =>
      v.type.tensorType.shape.dim.map((d) => ('dimValue' in d ? d.dimValue : d.dimParam));
    expect(model.graph.input.map((v) => [v.name, dims(v)])).toEqual([
      ['x', ['batch', 8, 8, 1]],
      ['t', ['batch']],
      ['label', ['batch']],
    ]);
    expect(model.graph.output.map((v) => [v.name, dims(v)])).toEqual([['out', ['batch', 8, 8, 2]]]);
    const meta = Object.fromEntries(model.metadataProps.map((e) => [e.key, e.value]));
    expect(meta[META.prediction]).toBe('v');
    expect(meta[META.step]).toBe('42');
    expect(meta[META.ema]).toBe('true');
    expect(meta[META.numClasses]).toBe('3');
    expect(meta[META.learnedVariance]).toBe('true');
    expect(Number(meta[META.paramCount])).toBe(ir.params.reduce((n, p) => n + numel(p.shape), 0));
    // Deterministic bytes.
    const again = exportOnnx(ir, randomParams(ir, 1), { ...INFO, prediction: 'v', step: 42, ema: true });
    expect(Buffer.compare(again, bytes)).toBe(0);
  });

  it('rejects missing and unknown parameters', () => {
    const ir = buildIR(modelPreset('tiny', { channels: 2 }));
    const params = randomParams(ir, 1);
    params.delete('output.bias');
    expect(() => exportOnnx(ir, params, INFO)).toThrow(/missing parameter output.bias/);
    params.set('output.bias', new Float32Array(2)).set('nope', new Float32Array(1));
    expect(() => exportOnnx(ir, params, INFO)).toThrow(/unknown parameter nope/);
  });

  it('probes providers in order and reports the one used', async () => {
    const ir = buildIR(modelPreset('tiny', { channels: 2 }));
    const s = await OnnxModelSession.create(exportOnnx(ir, randomParams(ir, 1), INFO), {
      providers: ['dml', 'cpu'],
    });
    try {
      // dml exists only in the Windows build of onnxruntime-node.
      if (process.platform !== 'win32') {
        expect(s.provider).toBe('cpu');
        expect(s.probes[0]).toMatchObject({ provider: 'dml', error: expect.any(String) });
      }
      expect(s.probes.at(-1)).toEqual({ provider: s.provider });
    } finally {
      await s.release();
    }
  });
});

describe('a sampler over onnxVpModel matches it over tfjsVpModel', () => {
  it('dpmpp-2m with classifier-free guidance on a conditional tiny U-Net with learned variance', async () => {
    const ir = buildIR(modelPreset('tiny', { channels: 3, size: 8, numClasses: 4, learnedVariance: true }));
    const params = randomParams(ir, 3);
    // Smaller weights keep the random network's outputs in a sane range over a whole trajectory.
    for (const v of params.values()) for (let i = 0; i < v.length; i++) v[i] *= 0.5;
    const { tfjs, onnx } = await bothEngines(ir, params);
    try {
      const grid = buildNoiseGrid({ formulation: 'vp', schedule: 'linear', timesteps: 1000, steps: 6 });
      const schedule = grid.schedule!;
      const n = 3;
      const dim = numel(ir.inputs.x.shape);
      const labels = Int32Array.of(0, 3, 1);
      const sample = async (vp: (labels?: Int32Array) => VpModel) => {
        const labeled: LabeledDenoiser = {
          dim,
          denoise: (x, sigma, l) => vpDenoiser(vp(l), schedule, 'eps', { clipX0: 1 }).denoise(x, sigma),
        };
        const x = initialNoise(5, 0, n, dim, Float32Array);
        for (let i = 0; i < x.length; i++) x[i] *= grid.initScale;
        const result = await getSampler('dpmpp-2m').run(
          {
            denoiser: classifierFreeGuidance(labeled, labels, 2.5),
            sigmas: grid.sigmas,
            x,
            noise: new BatchNoise(5, 0, n, dim, StreamPurpose.sampler),
          },
          {},
        );
        return result.x;
      };
      const a = await sample((l) => tfjsVpModel(tfjs, l));
      const b = await sample((l) => onnxVpModel(onnx, l));
      if (process.env.PARITY_LOG) console.log('sampler', maxAbsDiff(a, b), Math.max(...Array.from(a, Math.abs)));
      expect(maxAbsDiff(a, b)).toBeLessThanOrEqual(1e-4);
    } finally {
      tfjs.dispose();
      await onnx.release();
    }
  });
});
