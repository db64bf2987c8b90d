import * as tf from '@tensorflow/tfjs';
import { beforeAll, describe, expect, it } from 'vitest';
import { NormalStream } from '../../src/core/rng.ts';
import { makeSchedule } from '../../src/core/schedules.ts';
import { diffusionLoss, timestepCoefficients, type ObjectiveSpec } from '../../src/train/objectives.ts';

const normals = (n: number, seed: number) => {
  const a = new Float64Array(n);
  new NormalStream(seed, 0, 9).fill(a);
  return a;
};

/** Float64 reference of one sample's loss, written from the improved-DDPM definitions independently of tf. */
function referenceLoss(spec: ObjectiveSpec, out: Float64Array, x0: Float64Array, eps: Float64Array, t: number): number {
  const D = x0.length;
  const ab = spec.schedule.alphasCumprod;
  const betas = spec.schedule.betas;
  const a = Math.sqrt(ab[t]);
  const s = Math.sqrt(1 - ab[t]);
  const xt = x0.map((v, i) => a * v + s * eps[i]);
  const pred = out.subarray(0, D);
  const tgt = spec.prediction === 'eps' ? eps : spec.prediction === 'x0' ? x0 : eps.map((e, i) => a * e - s * x0[i]);
  let mse = 0;
  for (let i = 0; i < D; i++) mse += (pred[i] - tgt[i]) ** 2;
  mse /= D;
  if (!spec.learnedVariance) return mse;
  const x0p = pred.map((p, i) =>
    spec.prediction === 'x0' ? p : spec.prediction === 'eps' ? (xt[i] - s * p) / a : a * xt[i] - s * p,
  );
  const abPrev = t === 0 ? 1 : ab[t - 1];
  const c0 = (Math.sqrt(abPrev) * betas[t]) / (1 - ab[t]);
  const ct = (Math.sqrt(1 - betas[t]) * (1 - abPrev)) / (1 - ab[t]);
  const bt = (k: number) => (betas[k] * (1 - ab[k - 1])) / (1 - ab[k]);
  const minLog = Math.log(t === 0 ? bt(1) : bt(t));
  const maxLog = Math.log(betas[t]);
  let vb = 0;
  for (let i = 0; i < D; i++) {
    const frac = (out[D + i] + 1) / 2;
    const lv = frac * maxLog + (1 - frac) * minLog;
    const mm = c0 * x0p[i] + ct * xt[i];
    const tm = c0 * x0[i] + ct * xt[i];
    if (t === 0) {
      const cdf = (z: number) => 0.5 * (1 + Math.tanh(Math.sqrt(2 / Math.PI) * (z + 0.044715 * z ** 3)));
      const inv = Math.exp(-0.5 * lv);
      const c = x0[i] - mm;
      const plus = cdf(inv * (c + 1 / 255));
      const minus = cdf(inv * (c - 1 / 255));
      const lp =
        x0[i] < -0.999
          ? Math.log(Math.max(plus, 1e-12))
          : x0[i] > 0.999
            ? Math.log(Math.max(1 - minus, 1e-12))
            : Math.log(Math.max(plus - minus, 1e-12));
      vb += -lp;
    } else {
      vb += 0.5 * (-1 + lv - minLog + Math.exp(minLog - lv) + (tm - mm) ** 2 * Math.exp(-lv));
    }
  }
  return mse + ((vb / D / Math.LN2) * spec.schedule.T) / 1000;
}

beforeAll(async () => {
  await tf.setBackend('cpu');
});

describe('diffusion objectives', () => {
  const schedule = makeSchedule('cosine', 1000);
  const B = 4;
  const D = 6;
  const t = new Int32Array([0, 1, 500, 999]);
  const x0 = normals(B * D, 1).map((v) => Math.tanh(v)); // inside [-1, 1], like images
  const eps = normals(B * D, 2);

  for (const prediction of ['eps', 'x0', 'v'] as const) {
    for (const learnedVariance of [false, true]) {
      it(`matches a float64 reference: ${prediction}${learnedVariance ? ' + learned variance (hybrid)' : ''}`, () => {
        const spec: ObjectiveSpec = { prediction, learnedVariance, schedule, discreteData: true };
        const C = learnedVariance ? 2 * D : D;
        const out = normals(B * C, 3).map((v) => (learnedVariance ? Math.tanh(v) : v));
        const xt = new Float64Array(B * D);
        const co = timestepCoefficients(schedule, t);
        for (let j = 0; j < B; j++)
          for (let i = 0; i < D; i++)
            xt[j * D + i] = co.sqrtAb[j] * x0[j * D + i] + co.sqrtOneMinusAb[j] * eps[j * D + i];
        const r = tf.tidy(() => {
          const res = diffusionLoss(
            {
              out: tf.tensor2d(Float32Array.from(out), [B, C]),
              x0: tf.tensor2d(Float32Array.from(x0), [B, D]),
              eps: tf.tensor2d(Float32Array.from(eps), [B, D]),
              xt: tf.tensor2d(Float32Array.from(xt), [B, D]),
              t,
            },
            spec,
          );
          return { loss: res.loss.dataSync()[0], per: Array.from(res.perSample.dataSync()) };
        });
        const expected = Array.from({ length: B }, (_, j) =>
          referenceLoss(
            spec,
            out.subarray(j * C, (j + 1) * C),
            x0.subarray(j * D, (j + 1) * D),
            eps.subarray(j * D, (j + 1) * D),
            t[j],
          ),
        );
        // float32 arithmetic against float64: a few ulps of the larger terms.
        expected.forEach((e, j) => expect(Math.abs(r.per[j] - e)).toBeLessThan(2e-5 * Math.max(1, Math.abs(e))));
        const mean = expected.reduce((a, b) => a + b) / B;
        expect(Math.abs(r.loss - mean)).toBeLessThan(2e-5 * Math.max(1, Math.abs(mean)));
      });
    }
  }

  it('trains the variance, not the mean, through the bound (stop-gradient)', () => {
    const spec: ObjectiveSpec = { prediction: 'eps', learnedVariance: true, schedule, discreteData: true };
    const out = tf.variable(tf.tensor2d(Float32Array.from(normals(B * 2 * D, 4).map(Math.tanh)), [B, 2 * D]));
    const x0t = tf.tensor2d(Float32Array.from(x0), [B, D]);
    const epst = tf.tensor2d(Float32Array.from(eps), [B, D]);
    const { grads } = tf.variableGrads(() => diffusionLoss({ out, x0: x0t, eps: epst, xt: x0t, t }, spec).loss, [out]);
    const g = grads[out.name].arraySync() as number[][];
    // d mse / d pred = 2 (pred - eps) / (D * B): the mean half sees only L_simple.
    const o = out.arraySync() as number[][];
    for (let j = 0; j < B; j++) {
      for (let i = 0; i < D; i++) expect(g[j][i]).toBeCloseTo((2 * (o[j][i] - eps[j * D + i])) / (D * B), 6);
      expect(g[j].slice(D).some((v) => Math.abs(v) > 1e-9)).toBe(true);
    }
  });

  it('uses a continuous Gaussian decoder for vector data', () => {
    const spec: ObjectiveSpec = { prediction: 'eps', learnedVariance: true, schedule, discreteData: false };
    const res = tf.tidy(
      () =>
        diffusionLoss(
          {
            out: tf.zeros([1, 2 * D]),
            x0: tf.tensor2d(Float32Array.from(x0.subarray(0, D)), [1, D]),
            eps: tf.zeros([1, D]),
            xt: tf.tensor2d(Float32Array.from(x0.subarray(0, D)), [1, D]),
            t: new Int32Array([0]),
          },
          spec,
        ).perSample.dataSync()[0],
    );
    expect(Number.isFinite(res)).toBe(true);
  });
});
