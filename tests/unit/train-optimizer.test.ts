import * as tf from '@tensorflow/tfjs';
import { beforeAll, describe, expect, it } from 'vitest';
import { Ema, emaDecay } from '../../src/train/ema.ts';
import { learningRate } from '../../src/train/lr-schedule.ts';
import { AdamOptimizer, clipByGlobalNorm, type AdamConfig } from '../../src/train/optimizer.ts';

beforeAll(async () => {
  await tf.setBackend('cpu');
});

/** torch.optim.Adam / AdamW in float64, written from the PyTorch documentation's pseudocode. */
function referenceAdam(w: number[], grads: number[][], lrs: number[], c: AdamConfig): number[] {
  const m = w.map(() => 0);
  const v = w.map(() => 0);
  let p = [...w];
  grads.forEach((g0, k) => {
    const step = k + 1;
    const lr = lrs[k];
    if (c.kind === 'adamw') p = p.map((x) => x * (1 - lr * c.weightDecay));
    const g = c.kind === 'adam' ? g0.map((x, i) => x + c.weightDecay * p[i]) : g0;
    g.forEach((x, i) => {
      m[i] = c.beta1 * m[i] + (1 - c.beta1) * x;
      v[i] = c.beta2 * v[i] + (1 - c.beta2) * x * x;
      const mh = m[i] / (1 - c.beta1 ** step);
      const vh = v[i] / (1 - c.beta2 ** step);
      p[i] -= (lr * mh) / (Math.sqrt(vh) + c.eps);
    });
  });
  return p;
}

describe('Adam / AdamW', () => {
  const w0 = [0.5, -1.25, 2, 0.01];
  const grads = [
    [0.1, -0.2, 0.3, 0.0],
    [0.05, 0.4, -0.1, 1e-4],
    [-0.3, 0.1, 0.2, -2],
    [0.2, 0.2, 0.2, 0.2],
  ];
  const lrs = [1e-2, 2e-2, 3e-2, 3e-2];
  for (const kind of ['adam', 'adamw'] as const) {
    it(`${kind} follows PyTorch's update rule`, () => {
      const config: AdamConfig = { kind, beta1: 0.9, beta2: 0.99, eps: 1e-8, weightDecay: 0.1 };
      const w = tf.variable(tf.tensor1d(w0));
      const opt = new AdamOptimizer([w], config);
      grads.forEach((g, k) => tf.tidy(() => opt.apply([tf.tensor1d(g)], lrs[k])));
      const ref = referenceAdam(w0, grads, lrs, config);
      Array.from(w.dataSync()).forEach((x, i) => expect(x).toBeCloseTo(ref[i], 6));
      expect(opt.step).toBe(4);
    });
  }

  it('continues bit-exactly from exported state', () => {
    const config: AdamConfig = { kind: 'adamw', beta1: 0.9, beta2: 0.999, eps: 1e-8, weightDecay: 0.01 };
    const a = tf.variable(tf.tensor1d(w0));
    const optA = new AdamOptimizer([a], config);
    grads.slice(0, 2).forEach((g) => tf.tidy(() => optA.apply([tf.tensor1d(g)], 1e-2)));
    const state = optA.exportState();
    const b = tf.variable(tf.tensor1d(a.dataSync() as Float32Array));
    const optB = new AdamOptimizer([b], config);
    optB.importState(state);
    grads.slice(2).forEach((g) => tf.tidy(() => optA.apply([tf.tensor1d(g)], 1e-2)));
    grads.slice(2).forEach((g) => tf.tidy(() => optB.apply([tf.tensor1d(g)], 1e-2)));
    expect(Array.from(b.dataSync())).toEqual(Array.from(a.dataSync()));
    expect(() => optB.importState({ step: 1, m: [], v: [] })).toThrow(/0 moments, the model has 1/);
  });
});

describe('gradient clipping, learning rate, EMA', () => {
  it('clips the global norm like torch.nn.utils.clip_grad_norm_', () => {
    const g = [tf.tensor1d([3, 0]), tf.tensor1d([0, 4])];
    const r = clipByGlobalNorm(g, 1);
    expect(r.norm).toBeCloseTo(5, 6);
    expect(Array.from(r.grads[0].dataSync())[0]).toBeCloseTo(3 / (5 + 1e-6), 6);
    expect(clipByGlobalNorm(g, 10).grads).toBe(g);
  });

  it('warms up linearly then decays', () => {
    const s = { lr: 1e-3, warmupSteps: 10, decay: 'cosine' as const, totalSteps: 110, minLr: 0 };
    expect(learningRate(s, 0)).toBeCloseTo(1e-4, 12);
    expect(learningRate(s, 9)).toBeCloseTo(1e-3, 12);
    expect(learningRate(s, 60)).toBeCloseTo(5e-4, 12);
    expect(learningRate(s, 110)).toBeCloseTo(0, 12);
    expect(learningRate({ ...s, decay: 'constant' }, 100)).toBe(1e-3);
  });

  it('averages weights with a warmed-up decay', () => {
    expect(emaDecay({ decay: 0.999, warmup: true }, 0)).toBeCloseTo(0.1, 12);
    expect(emaDecay({ decay: 0.999, warmup: true }, 1e6)).toBe(0.999);
    const w = tf.variable(tf.tensor1d([0]));
    const ema = new Ema([w], { decay: 0.5, warmup: false });
    w.assign(tf.tensor1d([1]));
    ema.update();
    expect(ema.shadows[0].dataSync()[0]).toBe(0.5);
    w.assign(tf.tensor1d([2]));
    ema.update();
    expect(ema.shadows[0].dataSync()[0]).toBe(1.25);
  });
});

describe('progress tracker', () => {
  it('continues the smoothed loss of a resumed run from its stored losses', async () => {
    const { ProgressTracker } = await import('../../src/train/progress.ts');
    const losses = [1, 0.8, 0.7, 0.65, 0.6];
    const args = (step: number, loss: number) => ({
      runId: 'r',
      step,
      loss,
      perSample: [loss],
      t: new Int32Array([0]),
      lr: 1e-3,
      gradNorm: 1,
      stepMs: 10,
      backend: 'cpu',
    });
    const straight = new ProgressTracker(10, 1, 1000, 0);
    let last = null;
    losses.forEach((l, i) => (last = straight.record(args(i + 1, l))));
    const resumed = new ProgressTracker(10, 1, 1000, 0);
    resumed.seedLosses(losses.slice(0, 3));
    let again = null;
    losses.slice(3).forEach((l, i) => (again = resumed.record(args(i + 4, l))));
    expect(again!.lossSmoothed).toBe(last!.lossSmoothed);
  });
});
