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
import { encodeModel, IR_VERSION } from '../../src/engines/onnx/onnx-proto.ts';
import { OnnxTrainStep, type TrainBatch } from '../../src/engines/onnx/train-step.ts';
import { useBackend } from '../../src/engines/tfjs/backend.ts';
import { conv2dTorch } from '../../src/engines/tfjs/conv.ts';
import { fromTfjsLayout, TfjsModel } from '../../src/engines/tfjs/model.ts';
import { modelPreset, type ModelConfig } from '../../src/model/config.ts';
import { buildIR, type ModelIR } from '../../src/model/ir.ts';
import { diffusionLoss } from '../../src/train/objectives.ts';
import { AdamOptimizer, clipByGlobalNorm } from '../../src/train/optimizer.ts';
import { drawStepInputs } from '../../src/train/step-inputs.ts';

let streamIndex = 0;
function randn(n: number, scale = 1): Float32Array {
  const out = new Float32Array(n);
  new NormalStream(7, streamIndex++, 0).fill(out);
  for (let i = 0; i < n; i++) out[i] *= scale;
  return out;
}

/** Random weights of a sensible scale everywhere (zero-init layers would hide most of the network's gradient). */
function randomParams(ir: ModelIR): Map<string, Float32Array> {
  return new Map(
    ir.params.map((p) => {
      const fanIn = p.shape.length > 1 ? p.shape.slice(1).reduce((a, b) => a * b, 1) : 1;
      const base = p.init.kind === 'ones' ? 1 : 0;
      const values = randn(
        p.shape.reduce((a, b) => a * b, 1),
        p.layout === 'vector' ? 0.1 : 1 / Math.sqrt(fanIn),
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

function relErr(a: Float32Array, b: Float32Array): number {
  let num = 0;
  let den = 0;
  for (let i = 0; i < a.length; i++) {
    num += (a[i] - b[i]) ** 2;
    den += b[i] ** 2;
  }
  return Math.sqrt(num / Math.max(den, 1e-30));
}

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
        const e = relErr(got.grads.get(p.name)!, ref.grads.get(p.name)!);
        if (e > worst) [worst, worstName] = [e, p.name];
      }
      expect(worst, `worst parameter ${worstName}`).toBeLessThan(5e-5);
    });
  }
});
