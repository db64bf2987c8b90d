// The compiled ONNX training step: its gradients against the tfjs engine's (whole models: U-Net with attention,
// labels and learned variance; MLP), every differentiated op against tfjs on its own, finite differences of the
// loss, and the optimizer update against optimizer.ts.
import * as tf from '@tensorflow/tfjs';
import * as ort from 'onnxruntime-node';
import { beforeAll, describe, expect, it } from 'vitest';
import { NormalStream } from '../../src/core/rng.ts';
import { makeSchedule } from '../../src/core/schedules.ts';
import { conv2d } from '../../src/engines/onnx/autodiff/conv.ts';
import * as ops from '../../src/engines/onnx/autodiff/ops.ts';
import { Tape, type Value } from '../../src/engines/onnx/autodiff/tape.ts';
import { OnnxTrainStep, type TrainBatch } from '../../src/engines/onnx/train-step.ts';
import { useBackend } from '../../src/engines/tfjs/backend.ts';
import { conv2dTorch } from '../../src/engines/tfjs/conv.ts';
import { fromTfjsLayout, TfjsModel } from '../../src/engines/tfjs/model.ts';
import { modelPreset, type ModelConfig } from '../../src/model/config.ts';
import { buildIR, type ModelIR } from '../../src/model/ir.ts';
import { runReference } from '../../src/model/reference.ts';
import { diffusionLoss } from '../../src/train/objectives.ts';
import { AdamOptimizer, clipByGlobalNorm } from '../../src/train/optimizer.ts';
import { drawStepInputs } from '../../src/train/step-inputs.ts';
import { relL2Error } from './helpers/relative-error.ts';

let streamIndex = 0;
function randn(n: number, scale = 1): Float32Array {
  const out = new Float32Array(n);
  new NormalStream(7, streamIndex++, 0).fill(out);
  for (let i = 0; i < n; i++) out[i] *= scale;
  return out;
}

/**
 * Random weights of a sensible scale everywhere (zero-init layers would hide most of the network's gradient). The
 * output layer stays small, as in training (it starts at zero): a large learned-variance output makes the decoder's
 * log(CDF(a) - CDF(b)) a catastrophic cancellation in float32, where two correct engines legitimately differ.
 */
function randomParams(ir: ModelIR): Map<string, Float32Array> {
  return new Map(
    ir.params.map((p) => {
      const fanIn = p.shape.length > 1 ? p.shape.slice(1).reduce((a, b) => a * b, 1) : 1;
      const base = p.init.kind === 'ones' ? 1 : 0;
      const outputLayer = p.name.startsWith('conv_out.') || p.name.startsWith('output.');
      const values = randn(
        p.shape.reduce((a, b) => a * b, 1),
        (p.layout === 'vector' ? 0.1 : 1 / Math.sqrt(fanIn)) * (outputLayer ? 0.1 : 1),
      );
      return [p.name, values.map((v) => v + base)];
    }),
  );
}

function batchFor(ir: ModelIR, B: number, T: number, seed = 3): TrainBatch {
  const dim = ir.inputs.x.shape.reduce((a, b) => a * b, 1);
  const x0 = randn(B * dim, 0.5).map((v) => Math.max(-1, Math.min(1, v)));
  const numClasses = ir.inputs.label?.numClasses ?? 0;
  const labels = Int32Array.from({ length: B }, (_, i) => i % Math.max(1, numClasses));
  const inputs = drawStepInputs(new NormalStream(seed, 0, 2), makeSchedule('linear', T), x0, labels, {
    numClasses,
    labelDropout: 0.2,
  });
  // Make sure t = 0 (the decoder term) is in the batch.
  inputs.t[0] = 0;
  return { x0, eps: inputs.eps, xt: inputs.xt, t: inputs.t, labels: inputs.labels };
}

/** The tfjs engine's loss and gradients (canonical layout) for the same weights and batch. */
function tfjsGradients(ir: ModelIR, params: Map<string, Float32Array>, batch: TrainBatch, spec: LossSpecLike) {
  const model = TfjsModel.create(ir, params);
  const vars = model.trainableVariables();
  const shape = [batch.t.length, ...ir.inputs.x.shape];
  const { value, grads } = tf.variableGrads(() => {
    const out = model.apply(
      tf.tensor(batch.xt, shape),
      tf.tensor1d(Float32Array.from(batch.t)),
      batch.labels ? tf.tensor1d(batch.labels, 'int32') : null,
      { training: true, dropoutSeed: 1 },
    );
    const x0 = tf.tensor(batch.x0, shape);
    const eps = tf.tensor(batch.eps, shape);
    const xt = tf.tensor(batch.xt, shape);
    return diffusionLoss({ out, x0, eps, xt, t: batch.t }, spec).loss;
  }, vars);
  const loss = value.dataSync()[0];
  const result = new Map(
    ir.params.map((p, i) => [p.name, fromTfjsLayout(p, grads[vars[i].name].dataSync() as Float32Array)]),
  );
  tf.dispose([value, ...Object.values(grads)]);
  model.dispose();
  return { loss, grads: result };
}

type LossSpecLike = Parameters<typeof diffusionLoss>[1];

beforeAll(async () => {
  await useBackend('cpu');
});

const T = 1000;
const schedule = makeSchedule('linear', T);

const CASES: { name: string; config: ModelConfig; prediction: 'eps' | 'x0' | 'v'; learnedVariance: boolean }[] = [
  {
    name: 'U-Net tiny 8x8, labels, learned variance, eps',
    config: modelPreset('tiny', { channels: 1, size: 8, numClasses: 3, learnedVariance: true }),
    prediction: 'eps',
    learnedVariance: true,
  },
  {
    name: 'U-Net tiny 8x8x3, v prediction',
    config: modelPreset('tiny', { channels: 3, size: 8 }),
    prediction: 'v',
    learnedVariance: false,
  },
  {
    name: 'MLP, labels, learned variance, x0',
    config: modelPreset('tiny', { channels: 2, numClasses: 2, learnedVariance: true }),
    prediction: 'x0',
    learnedVariance: true,
  },
];

describe('ONNX training graph: gradients', () => {
  for (const c of CASES) {
    it(`equals the tfjs engine's loss and gradients: ${c.name}`, async () => {
      const ir = buildIR(c.config);
      const params = randomParams(ir);
      const B = 4;
      const batch = batchFor(ir, B, T);
      const spec = {
        prediction: c.prediction,
        learnedVariance: c.learnedVariance,
        schedule,
        discreteData: ir.inputs.x.shape.length === 3,
      };
      const ref = tfjsGradients(ir, params, batch, spec);
      const step = await OnnxTrainStep.create(
        ir,
        {
          batch: B,
          prediction: c.prediction,
          learnedVariance: c.learnedVariance,
          discreteData: spec.discreteData,
          timesteps: T,
          mode: 'gradients',
        },
        schedule,
        params,
        { providers: ['cpu'] },
      );
      const got = await step.gradients(batch);
      await step.dispose();
      expect(Math.abs(got.loss - ref.loss)).toBeLessThan(1e-5 * Math.max(1, Math.abs(ref.loss)));
      let worst = 0;
      let worstName = '';
      for (const p of ir.params) {
        const e = relL2Error(got.grads.get(p.name)!, ref.grads.get(p.name)!);
        if (e > worst) [worst, worstName] = [e, p.name];
      }
      // Float32 sums with cancellation (GroupNorm weights) reach ~1e-4; a wrong VJP is off by O(1).
      expect(worst, `worst parameter ${worstName}`).toBeLessThan(5e-4);
    });
  }
});

/** Runs a tape graph with float inputs and returns d sum(f(xs) * r) / d xs, with r a fixed random weighting. */
async function onnxOpGradients(
  build: (t: Tape, xs: Value[]) => Value,
  inputs: { data: Float32Array; shape: number[] }[],
): Promise<{ y: Float32Array; grads: Float32Array[] }> {
  const t = new Tape();
  const xs = inputs.map((x, i) => t.input(`x${i}`, x.shape, 'float', true));
  const y = build(t, xs);
  const r = t.floats(y.shape, randnFixed(y.shape.reduce((a, b) => a * b, 1)));
  const scalar = ops.reduceSum(t, ops.mul(t, y, r), [...y.shape.keys()]);
  const grads = t.gradients(scalar, xs);
  t.output('y', y);
  grads.forEach((g, i) => t.output(`g${i}`, g));
  const bytes = t.encode('op', 17);
  const session = await ort.InferenceSession.create(bytes);
  const feeds = Object.fromEntries(inputs.map((x, i) => [`x${i}`, new ort.Tensor('float32', x.data, x.shape)]));
  const out = await session.run(feeds);
  await session.release();
  return {
    y: out.y.data as Float32Array,
    grads: inputs.map((_, i) => out[`g${i}`].data as Float32Array),
  };
}

let fixedIndex = 0;
const fixedWeights = new Map<number, Float32Array>();
/** The same weighting r for the ONNX and tfjs sides of one comparison (reset per comparison). */
function randnFixed(n: number): Float32Array {
  let w = fixedWeights.get(fixedIndex);
  if (!w || w.length !== n) {
    w = new Float32Array(n);
    new NormalStream(11, fixedIndex, 0).fill(w);
    fixedWeights.set(fixedIndex, w);
  }
  return w;
}

function tfjsOpGradients(f: (...xs: tf.Tensor[]) => tf.Tensor, inputs: { data: Float32Array; shape: number[] }[]) {
  return tf.tidy(() => {
    const xs = inputs.map((i) => tf.tensor(i.data, i.shape));
    const y = f(...xs);
    const r = tf.tensor(randnFixed(y.size), y.shape);
    const gs = tf.grads((...a: tf.Tensor[]) =>
      f(...a)
        .mul(r)
        .sum(),
    )(xs);
    return { y: Float32Array.from(y.dataSync()), grads: gs.map((g) => Float32Array.from(g.dataSync())) };
  });
}

/** NCHW conv as tfjs computes it (NHWC inside), PyTorch padding. */
function tfConvNchw(x: tf.Tensor, w: tf.Tensor, stride: number): tf.Tensor {
  const out = conv2dTorch(
    x.transpose([0, 2, 3, 1]) as tf.Tensor4D,
    w.transpose([2, 3, 1, 0]) as tf.Tensor4D,
    stride,
    'autodiff',
  );
  return out.transpose([0, 3, 1, 2]);
}

const positive = (n: number) => randn(n).map((v) => 0.5 + Math.abs(v));
const OP_CASES: {
  name: string;
  inputs: { data: Float32Array; shape: number[] }[];
  onnx: (t: Tape, xs: Value[]) => Value;
  tfjs: (...xs: tf.Tensor[]) => tf.Tensor;
}[] = [
  // cout < cin at stride 1: the weight gradient takes the im2col of dY instead of X.
  ...[
    { k: 3, s: 1, hw: 5, cin: 3, cout: 4 },
    { k: 3, s: 1, hw: 5, cin: 5, cout: 2 },
    { k: 3, s: 2, hw: 6, cin: 3, cout: 4 },
    { k: 3, s: 2, hw: 7, cin: 5, cout: 2 },
    { k: 1, s: 1, hw: 4, cin: 3, cout: 4 },
  ].map(({ k, s, hw, cin, cout }) => ({
    name: `conv2d ${cin} -> ${cout} k${k} s${s} on ${hw}x${hw} (input, weight, bias)`,
    inputs: [
      { data: randn(2 * cin * hw * hw), shape: [2, cin, hw, hw] },
      { data: randn(cout * cin * k * k, 0.3), shape: [cout, cin, k, k] },
      { data: randn(cout), shape: [cout] },
    ],
    onnx: (t: Tape, [x, w, b]: Value[]) => conv2d(t, x, w, b, { kernel: k, stride: s }),
    tfjs: (x: tf.Tensor, w: tf.Tensor, b: tf.Tensor) => tfConvNchw(x, w, s).add(b.reshape([1, cout, 1, 1])),
  })),
  {
    name: 'group normalization (2 groups of 2 channels, NCHW)',
    inputs: [{ data: randn(2 * 4 * 3 * 3, 2).map((v, i) => v + (i % 7)), shape: [2, 4, 3, 3] }],
    onnx: (t, [x]) => ops.groupNormalize(t, x, 2, 1e-5),
    tfjs: (x) => {
      const g = x.reshape([2, 2, 18]);
      const { mean, variance } = tf.moments(g, 2, true);
      return g.sub(mean).div(variance.add(1e-5).sqrt()).reshape([2, 4, 3, 3]);
    },
  },
  {
    name: 'matmul (batched)',
    inputs: [
      { data: randn(2 * 3 * 4), shape: [2, 3, 4] },
      { data: randn(2 * 4 * 5), shape: [2, 4, 5] },
    ],
    onnx: (t, [a, b]) => ops.matmul(t, a, b),
    tfjs: (a, b) => tf.matMul(a as tf.Tensor3D, b as tf.Tensor3D),
  },
  {
    name: 'softmax over the last axis',
    inputs: [{ data: randn(2 * 3 * 6), shape: [2, 3, 6] }],
    onnx: (t, [x]) => ops.softmax(t, x),
    tfjs: (x) => tf.softmax(x),
  },
  {
    name: 'broadcast add / sub / mul / div',
    inputs: [
      { data: randn(2 * 3 * 4), shape: [2, 3, 4] },
      { data: positive(3), shape: [3, 1] },
    ],
    onnx: (t, [a, b]) => ops.div(t, ops.mul(t, ops.sub(t, ops.add(t, a, b), b), a), b),
    tfjs: (a, b) => a.add(b).sub(b).mul(a).div(b),
  },
  {
    name: 'exp, log, sqrt, tanh, sigmoid, silu, square, neg',
    inputs: [{ data: positive(12), shape: [3, 4] }],
    onnx: (t, [x]) =>
      ops.add(
        t,
        ops.add(t, ops.exp(t, ops.neg(t, x)), ops.log(t, x)),
        ops.add(
          t,
          ops.mul(t, ops.sqrt(t, x), ops.tanh(t, x)),
          ops.add(t, ops.sigmoid(t, ops.square(t, x)), ops.silu(t, ops.sub(t, x, t.scalar(1)))),
        ),
      ),
    tfjs: (x) =>
      x
        .neg()
        .exp()
        .add(x.log())
        .add(
          x
            .sqrt()
            .mul(x.tanh())
            .add(x.square().sigmoid())
            .add(tf.sub(x, 1).mul(tf.sub(x, 1).sigmoid())),
        ),
  },
  (() => {
    const b = randn(10);
    return {
      name: 'maximum with a constant, where',
      inputs: [
        { data: randn(10), shape: [10] },
        { data: b, shape: [10] },
      ],
      onnx: (t: Tape, [x, y]: Value[]) =>
        ops.where(t, ops.less(t, y, t.scalar(0)), ops.maximum(t, x, 0.2), ops.mul(t, x, y)),
      // tfjs's Less has no gradient function even for a mask: build the condition from the data.
      tfjs: (x: tf.Tensor, y: tf.Tensor) => tf.where(tf.tensor(b).less(0), x.maximum(0.2), x.mul(y)),
    };
  })(),
  {
    name: 'reduce mean / sum, expand, transpose, reshape',
    inputs: [{ data: randn(2 * 3 * 4), shape: [2, 3, 4] }],
    onnx: (t, [x]) =>
      ops.reshape(
        t,
        ops.transpose(
          t,
          ops.add(t, ops.expand(t, ops.reduceMean(t, x, [1], true), [2, 3, 4]), ops.reduceSum(t, x, [0, 2], true)),
          [2, 0, 1],
        ),
        [4, 6],
      ),
    tfjs: (x) =>
      x
        .mean(1, true)
        .broadcastTo([2, 3, 4])
        .add(x.sum([0, 2], true))
        .transpose([2, 0, 1])
        .reshape([4, 6]),
  },
  {
    name: 'slice and concat',
    inputs: [
      { data: randn(2 * 5 * 3), shape: [2, 5, 3] },
      { data: randn(2 * 2 * 3), shape: [2, 2, 3] },
    ],
    onnx: (t, [a, b]) => ops.concat(t, [ops.slice(t, a, 1, 1, 4), b, ops.slice(t, a, 1, 0, 1)], 1),
    tfjs: (a, b) => tf.concat([a.slice([0, 1, 0], [2, 3, 3]), b, a.slice([0, 0, 0], [2, 1, 3])], 1),
  },
];

describe('ONNX training graph: every differentiated op against tfjs', () => {
  for (const c of OP_CASES) {
    it(c.name, async () => {
      fixedIndex++;
      const got = await onnxOpGradients(c.onnx, c.inputs);
      const ref = tfjsOpGradients(c.tfjs, c.inputs);
      expect(relL2Error(got.y, ref.y)).toBeLessThan(1e-5);
      got.grads.forEach((g, i) => expect(relL2Error(g, ref.grads[i]), `input ${i}`).toBeLessThan(1e-5));
    });
  }

  it('gatherRows (embedding): the table gradient sums rows picked several times', async () => {
    const t = new Tape();
    const table = t.input('table', [4, 3], 'float', true);
    const idx = t.ints([2, 0, 2, 3, 2]);
    const y = ops.gatherRows(t, table, idx);
    const r = randn(15);
    const [g] = t.gradients(ops.reduceSum(t, ops.mul(t, y, t.floats([5, 3], r)), [0, 1]), [table]);
    t.output('g', g);
    const bytes = t.encode('op', 17);
    const session = await ort.InferenceSession.create(bytes);
    const out = await session.run({ table: new ort.Tensor('float32', new Float32Array(12), [4, 3]) });
    const expected = new Float32Array(12);
    [2, 0, 2, 3, 2].forEach((row, i) => {
      for (let d = 0; d < 3; d++) expected[row * 3 + d] += r[i * 3 + d];
    });
    expect(relL2Error(out.g.data as Float32Array, expected)).toBeLessThan(1e-6);
  });
});

describe('ONNX training graph: finite differences (float64 reference model)', () => {
  it('the gradient of one tensor of every op kind equals central differences of the float64 loss', async () => {
    const ir = buildIR(modelPreset('tiny', { channels: 1, size: 8, numClasses: 2 }));
    const params = randomParams(ir);
    const B = 3;
    const batch = batchFor(ir, B, T, 5);
    const step = await OnnxTrainStep.create(
      ir,
      { batch: B, prediction: 'eps', learnedVariance: false, discreteData: true, timesteps: T, mode: 'gradients' },
      schedule,
      params,
      { providers: ['cpu'] },
    );
    const { grads } = await step.gradients(batch);
    await step.dispose();
    const lossAt = (p: Map<string, Float64Array>): number => {
      const out = runReference(ir, p, batch.xt, Float64Array.from(batch.t), batch.labels);
      let s = 0;
      for (let i = 0; i < out.length; i++) s += (out[i] - batch.eps[i]) ** 2;
      return s / out.length;
    };
    // One tensor of every kind of op the gradient flows through, each perturbed alone, so that a wrong VJP of any
    // op cannot hide behind the others.
    const probes = [
      'conv_in.weight',
      'down.0.res.0.norm1.weight',
      'down.0.res.0.norm1.bias',
      'down.0.res.0.conv1.weight',
      'down.0.res.0.emb_proj.weight',
      'down.0.downsample.weight',
      'mid.attn.0.qkv.weight',
      'mid.attn.0.proj.weight',
      'up.1.res.0.skip.weight',
      'up.1.upsample.weight',
      'time_embed.0.weight',
      'label_embed.weight',
      'conv_out.bias',
    ];
    for (const name of probes) {
      const w = params.get(name)!;
      expect(w, name).toBeDefined();
      const d = randn(w.length);
      const h = 1e-4;
      const shifted = (sign: number) =>
        new Map(
          ir.params.map((p) => {
            const v = params.get(p.name)!;
            return [
              p.name,
              p.name === name ? Float64Array.from(v, (x, i) => x + sign * h * d[i]) : Float64Array.from(v),
            ];
          }),
        );
      const numeric = (lossAt(shifted(1)) - lossAt(shifted(-1))) / (2 * h);
      const g = grads.get(name)!;
      let analytic = 0;
      let scale = 0;
      for (let i = 0; i < g.length; i++) {
        analytic += g[i] * d[i];
        scale += Math.abs(g[i] * d[i]);
      }
      // A directional derivative sums float32 terms that partly cancel: rounding is ~1e-6 of their magnitudes.
      expect(Math.abs(analytic - numeric), name).toBeLessThan(1e-4 * scale + 1e-7);
      expect(scale, `${name} gets a gradient`).toBeGreaterThan(1e-4);
    }
  });
});

describe('ONNX training graph: the optimizer step', () => {
  for (const kind of ['adamw', 'adam'] as const) {
    it(`${kind} with clipping over three steps equals optimizer.ts on the same gradients`, async () => {
      const ir = buildIR(modelPreset('tiny', { channels: 2 }));
      const params = randomParams(ir);
      const B = 8;
      const optimizer = { kind, beta1: 0.9, beta2: 0.99, eps: 1e-8, weightDecay: 0.05 };
      const common = {
        batch: B,
        prediction: 'eps' as const,
        learnedVariance: false,
        discreteData: false,
        timesteps: T,
      };
      const train = await OnnxTrainStep.create(
        ir,
        { ...common, mode: 'update', optimizer, gradClip: 0.5 },
        schedule,
        params,
        { providers: ['cpu'] },
      );
      const probe = await OnnxTrainStep.create(ir, { ...common, mode: 'gradients' }, schedule, params, {
        providers: ['cpu'],
      });
      // Reference: tfjs variables driven by optimizer.ts with the ONNX graph's own gradients.
      const vars = ir.params.map((p) => tf.variable(tf.tensor(params.get(p.name)!, p.shape)));
      const adam = new AdamOptimizer(vars, optimizer);
      for (let k = 0; k < 3; k++) {
        const batch = batchFor(ir, B, T, 20 + k);
        ir.params.forEach((p, i) => probe.weights[i].set(vars[i].dataSync() as Float32Array));
        const { grads } = await probe.gradients(batch);
        const gradList = ir.params.map((p) => tf.tensor(grads.get(p.name)!, p.shape));
        const clipped = clipByGlobalNorm(gradList, 0.5);
        adam.apply(clipped.grads, 1e-2);
        const result = await train.update(batch, 1e-2);
        expect(result.applied).toBe(true);
        expect(Math.abs(result.gradNorm - clipped.norm)).toBeLessThan(1e-5 * clipped.norm);
        tf.dispose([...gradList, ...clipped.grads]);
      }
      ir.params.forEach((p, i) => {
        expect(relL2Error(train.weights[i], vars[i].dataSync() as Float32Array), p.name).toBeLessThan(1e-5);
      });
      const state = adam.exportState();
      ir.params.forEach((p, i) => expect(relL2Error(train.m[i], state.m[i]), p.name).toBeLessThan(1e-5));
      expect(train.step).toBe(3);
      adam.dispose();
      tf.dispose(vars);
      await Promise.all([train.dispose(), probe.dispose()]);
    });
  }

  it('a non-finite loss leaves weights, moments and step untouched', async () => {
    const ir = buildIR(modelPreset('tiny', { channels: 2 }));
    const params = randomParams(ir);
    const B = 4;
    const train = await OnnxTrainStep.create(
      ir,
      {
        batch: B,
        prediction: 'eps',
        learnedVariance: false,
        discreteData: false,
        timesteps: T,
        mode: 'update',
        optimizer: { kind: 'adamw', beta1: 0.9, beta2: 0.999, eps: 1e-8, weightDecay: 0 },
        gradClip: 1,
      },
      schedule,
      params,
      { providers: ['cpu'] },
    );
    const batch = batchFor(ir, B, T);
    await train.update(batch, 1e-3);
    const before = train.weights.map((w) => w.slice());
    const bad = { ...batch, eps: batch.eps.map((v, i) => (i === 3 ? NaN : v)) };
    const result = await train.update(bad, 1e-3);
    expect(result.applied).toBe(false);
    expect(Number.isNaN(result.loss)).toBe(true);
    expect(train.step).toBe(1);
    train.weights.forEach((w, i) => expect(w).toEqual(before[i]));
    await train.dispose();
  });
});
