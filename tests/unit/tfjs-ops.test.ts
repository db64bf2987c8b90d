// Every op the tfjs interpreter uses against the naive float64 implementations of src/model/reference.ts, on each
// backend used for training here (cpu, wasm), in both gradient modes where the forward differs; then whole models.
import * as tf from '@tensorflow/tfjs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { NormalStream } from '../../src/core/rng.ts';
import { useBackend } from '../../src/engines/tfjs/backend.ts';
import type { GradMode } from '../../src/engines/tfjs/grad-mode.ts';
import { TfjsModel, tfjsVpModel, toTfjsLayout } from '../../src/engines/tfjs/model.ts';
import * as ops from '../../src/engines/tfjs/ops.ts';
import { modelPreset } from '../../src/model/config.ts';
import { initParams } from '../../src/model/init.ts';
import { buildIR, type ModelIR, type ParamLayout } from '../../src/model/ir.ts';
import {
  refConcat,
  refConv2d,
  refGroupNorm,
  refLinear,
  refSelfAttention,
  refSilu,
  refTimestepEmbedding,
  refUpsample2x,
  runReference,
} from '../../src/model/reference.ts';

let stream = 0;
/** Deterministic N(0, 1) * scale values, a fresh stream per call. */
function randn(n: number, scale = 1): Float32Array {
  const out = new Float32Array(n);
  new NormalStream(1234, stream++, 0).fill(out);
  for (let i = 0; i < n; i++) out[i] *= scale;
  return out;
}

/** max |a - e| <= tol * max(1, max |e|): float32 rounding relative to the values' scale. */
function expectClose(actual: ArrayLike<number>, expected: ArrayLike<number>, tol: number): void {
  expect(actual.length).toBe(expected.length);
  let err = 0;
  let scale = 1;
  for (let i = 0; i < expected.length; i++) {
    err = Math.max(err, Math.abs(actual[i] - expected[i]));
    scale = Math.max(scale, Math.abs(expected[i]));
  }
  expect(err).toBeLessThanOrEqual(tol * scale);
}

/** Values of a tensor made inside tidy (data read outside it: tidy would walk a returned TypedArray). */
function run(f: () => tf.Tensor): Float32Array {
  const t = tf.tidy(f);
  const d = Float32Array.from(t.dataSync());
  t.dispose();
  return d;
}

/** A parameter tensor in tfjs layout from canonical values. */
function param(layout: ParamLayout, shape: number[], data: Float32Array): tf.Tensor {
  const t = toTfjsLayout({ name: 'p', shape, layout, init: { kind: 'zeros' } }, data);
  return tf.tensor(t.data, t.shape);
}

/** Model parameters with every value nonzero (zero-init layers would hide most of the network). */
function busyParams(ir: ModelIR, seed: number): Map<string, Float32Array> {
  const p = initParams(ir, seed);
  for (const [name, v] of p) {
    const noise = randn(v.length, 0.05);
    for (let i = 0; i < v.length; i++) v[i] += noise[i];
    p.set(name, v);
  }
  return p;
}

const TOL = 2e-6; // float32 ops on O(1) values with sums of at most a few hundred terms

describe.each(['cpu', 'wasm'] as const)('tfjs ops on %s', (backend) => {
  beforeAll(async () => {
    await useBackend(backend);
  });
  const modes: GradMode[] = ['autodiff', 'custom'];

  it('conv2d matches nn.Conv2d(padding = k // 2) with PyTorch weight layout: stride 1 and 2, kernels 3 and 1', () => {
    const cases = [
      [2, 6, 6, 3, 4, 3, 1],
      [2, 6, 6, 3, 4, 3, 2],
      [1, 7, 5, 2, 3, 3, 2], // odd sizes: PyTorch rounding, not TF 'SAME'
      [2, 5, 5, 3, 4, 1, 1],
    ];
    for (const [b, h, w, cin, cout, k, s] of cases) {
      const x = randn(b * h * w * cin);
      const wt = randn(cout * cin * k * k);
      const bias = randn(cout);
      const ref = refConv2d(x, [b, h, w, cin], wt, bias, cout, k, s);
      for (const mode of modes) {
        const y = run(() =>
          ops.conv2d(
            tf.tensor4d(x, [b, h, w, cin]),
            param('conv2d', [cout, cin, k, k], wt) as tf.Tensor4D,
            tf.tensor1d(bias),
            s,
            mode,
          ),
        );
        expectClose(y, ref.y, TOL);
      }
    }
  });

  it('linear, embedding, silu, add_broadcast, concat_channels', () => {
    const x = randn(2 * 3 * 5);
    const w = randn(4 * 5);
    const b = randn(4);
    for (const mode of modes) {
      const y = run(() =>
        ops.linear(tf.tensor3d(x, [2, 3, 5]), param('linear', [4, 5], w) as tf.Tensor2D, tf.tensor1d(b), mode),
      );
      expectClose(y, refLinear(x, 6, 5, w, b, 4), TOL);
      const table = randn(4 * 3);
      const e = run(() => ops.embedding(tf.tensor1d([2, 0, 3], 'int32'), tf.tensor2d(table, [4, 3]), mode));
      expect(Array.from(e)).toEqual([...table.slice(6, 9), ...table.slice(0, 3), ...table.slice(9, 12)]);
    }
    const v = randn(40, 4);
    expectClose(
      run(() => ops.silu(tf.tensor1d(v))),
      refSilu(v),
      TOL,
    );
    const fm = randn(2 * 2 * 3 * 4);
    const vec = randn(2 * 4);
    const yb = run(() => ops.addBroadcast(tf.tensor4d(fm, [2, 2, 3, 4]), tf.tensor2d(vec, [2, 4])));
    expectClose(
      yb,
      fm.map((val, i) => val + vec[Math.floor(i / 24) * 4 + (i % 4)]),
      TOL,
    );
    const c2 = randn(2 * 2 * 3 * 2);
    const yc = run(() => ops.concatChannels([tf.tensor4d(fm, [2, 2, 3, 4]), tf.tensor4d(c2, [2, 2, 3, 2])]));
    expectClose(yc, refConcat([fm, c2], 12, [4, 2]), 0);
  });

  it('group norm on feature maps and on vectors (LayerNorm)', () => {
    for (const mode of modes) {
      const x = randn(2 * 3 * 4 * 8, 3).map((v, i) => v + (i % 8)); // channel offsets: means matter
      const g = randn(8);
      const b = randn(8);
      const y = run(() => ops.groupNorm(tf.tensor4d(x, [2, 3, 4, 8]), 4, 1e-5, tf.tensor1d(g), tf.tensor1d(b), mode));
      expectClose(y, refGroupNorm(x, 2, 12, 8, 4, 1e-5, g, b), 1e-5);
      const v = randn(3 * 6);
      const yv = run(() =>
        ops.groupNorm(tf.tensor2d(v, [3, 6]), 1, 1e-5, tf.tensor1d(g.slice(0, 6)), tf.tensor1d(b.slice(0, 6)), mode),
      );
      expectClose(yv, refGroupNorm(v, 3, 1, 6, 1, 1e-5, g.slice(0, 6), b.slice(0, 6)), 1e-5);
    }
  });

  it('self-attention with 1 and 2 heads', () => {
    const [b, h, w, c] = [2, 3, 3, 8];
    const x = randn(b * h * w * c);
    const p = {
      normW: randn(c),
      normB: randn(c),
      qkvW: randn(3 * c * c, 0.4),
      qkvB: randn(3 * c),
      projW: randn(c * c, 0.4),
      projB: randn(c),
    };
    for (const heads of [1, 2]) {
      const ref = refSelfAttention(x, b, h * w, c, heads, 2, 1e-5, p);
      for (const mode of modes) {
        const y = run(() =>
          ops.selfAttention(
            tf.tensor4d(x, [b, h, w, c]),
            heads,
            2,
            1e-5,
            {
              normW: tf.tensor1d(p.normW),
              normB: tf.tensor1d(p.normB),
              qkvW: param('linear', [3 * c, c], p.qkvW) as tf.Tensor2D,
              qkvB: tf.tensor1d(p.qkvB),
              projW: param('linear', [c, c], p.projW) as tf.Tensor2D,
              projB: tf.tensor1d(p.projB),
            },
            mode,
          ),
        );
        expectClose(y, ref, 1e-5);
      }
    }
  });

  it('nearest 2x upsampling', () => {
    const x = randn(3 * 2 * 3 * 2);
    expectClose(
      run(() => ops.upsampleNearest2x(tf.tensor4d(x, [3, 2, 3, 2]))),
      refUpsample2x(x, 3, 2, 3, 2),
      0,
    );
  });

  it('sinusoidal timestep embedding ([cos, sin], ADM frequencies) at integer and fractional t', () => {
    const t = Float32Array.from([0, 1, 37.5, 999]);
    const y = run(() => ops.timestepEmbedding(tf.tensor1d(t), 16, 10000));
    // float32 rounding of t * freq (up to 999: ulp 6e-5) bounds the error, as in any float32 implementation.
    expectClose(y, refTimestepEmbedding(t, 16), 2e-4);
    expect(Array.from(y.slice(0, 16))).toEqual([...Array(8).fill(1), ...Array(8).fill(0)]); // t = 0
  });

  it('dropout: reproducible masks from the seed, rate and 1 / (1 - rate) scaling', () => {
    const x = tf.ones([4, 8, 8, 16]);
    const a = run(() => ops.dropout(x, 0.25, '7:3'));
    const b = run(() => ops.dropout(x, 0.25, '7:3'));
    const c = run(() => ops.dropout(x, 0.25, '8:3'));
    x.dispose();
    expect(a).toEqual(b);
    expect(a).not.toEqual(c);
    const zeros = a.filter((v) => v === 0).length / a.length;
    expect(zeros).toBeGreaterThan(0.2);
    expect(zeros).toBeLessThan(0.3);
    expect(a.every((v) => v === 0 || Math.abs(v - 4 / 3) < 1e-6)).toBe(true);
  });

  describe('whole models', () => {
    let models: TfjsModel[] = [];
    afterAll(() => {
      for (const m of models) m.dispose();
      models = [];
    });

    it('tiny U-Net (labels, learned variance) and MLP match the float64 reference interpreter', () => {
      const configs = [
        modelPreset('tiny', { channels: 3, size: 8, numClasses: 4, learnedVariance: true }),
        modelPreset('tiny', { channels: 2, numClasses: 3 }),
      ];
      for (const cfg of configs) {
        const ir = buildIR(cfg);
        const params = busyParams(ir, 5);
        const model = TfjsModel.create(ir, params);
        models.push(model);
        const b = 3;
        const x = randn(b * model.dim);
        const t = Float32Array.from([0, 250.5, 999]);
        const labels = Int32Array.from([1, -1, cfg.numClasses]); // -1 and numClasses are both the null class
        const ref = runReference(ir, params, x, t, labels);
        for (const mode of modes) {
          const y = run(() =>
            model.apply(tf.tensor(x, [b, ...ir.inputs.x.shape]), tf.tensor1d(t), tf.tensor1d(labels, 'int32'), {
              training: false,
              gradMode: mode,
            }),
          );
          expectClose(y, ref, 2e-5);
        }
      }
    });

    it('predictBatch returns [prediction | v] per sample, leaks no tensors, and round-trips parameters', () => {
      const ir = buildIR(modelPreset('tiny', { channels: 2, size: 4, numClasses: 2, learnedVariance: true }));
      const params = busyParams(ir, 6);
      const model = TfjsModel.create(ir, params);
      models.push(model);
      const x = randn(2 * 32);
      const before = tf.memory().numTensors;
      const y = run(() =>
        model.apply(tf.tensor(x, [2, 4, 4, 2]), tf.fill([2], 10) as tf.Tensor1D, null, { training: false }),
      );
      const p = model.predictBatch(x, 10, Int32Array.from([-1, 2]));
      expect(tf.memory().numTensors).toBe(before);
      // apply gives [B, 4, 4, 4] channel-interleaved; predictBatch splits channels into two halves per sample.
      const expected = new Float32Array(128);
      for (let j = 0; j < 2; j++)
        for (let pos = 0; pos < 16; pos++)
          for (let c = 0; c < 2; c++) {
            expected[j * 64 + pos * 2 + c] = y[j * 64 + pos * 4 + c];
            expected[j * 64 + 32 + pos * 2 + c] = y[j * 64 + pos * 4 + 2 + c];
          }
      expectClose(p, expected, 1e-6);
      const vp = tfjsVpModel(model);
      expect(vp.dim).toBe(32);
      expect(vp.outputChannelsFactor).toBe(2);
      const back = model.readParams();
      expect([...params].every(([name, v]) => v.every((u, i) => u === back.get(name)![i]))).toBe(true);
      model.writeParams(new Map([['conv_out.bias', new Float32Array(4).fill(0.5)]]));
      expect(Array.from(model.readParams().get('conv_out.bias')!)).toEqual([0.5, 0.5, 0.5, 0.5]);
      expect(() => model.writeParams(new Map([['nope', new Float32Array(1)]]))).toThrow(/unknown parameter nope/);
      expect(() => model.writeParams(new Map([['conv_out.bias', new Float32Array(3)]]))).toThrow(/3 values/);
    });

    it('checks inputs and requires a dropout seed when training with dropout', () => {
      const ir = buildIR({ ...modelPreset('tiny', { channels: 1, size: 4 }), dropout: 0.1 });
      const model = TfjsModel.create(ir, initParams(ir, 0));
      models.push(model);
      tf.tidy(() => {
        const x = tf.zeros([2, 4, 4, 1]);
        const t = tf.zeros([2]) as tf.Tensor1D;
        expect(() => model.apply(x, t, null, { training: true })).toThrow(/dropoutSeed/);
        expect(() => model.apply(tf.zeros([2, 4, 4, 3]), t, null, { training: false })).toThrow(
          /expects \[2, 4, 4, 1\]/,
        );
        expect(() => model.apply(x, t, tf.tensor1d([0, 1], 'int32'), { training: false })).toThrow(/unconditional/);
      });
      expect(() => TfjsModel.create(ir, new Map())).toThrow(/missing parameter/);
    });
  });
});
