import { describe, expect, it } from 'vitest';
import { classMixtureDenoiser, mixtureVpModel } from '../../src/core/analytic.ts';
import { MixtureDenoiser, type GaussianMixture } from '../../src/core/gmm.ts';
import { NULL_LABEL } from '../../src/core/guidance.ts';
import { NormalStream } from '../../src/core/rng.ts';
import { makeSchedule } from '../../src/core/schedules.ts';
import { tToSigma } from '../../src/core/spacing.ts';
import type { DenoiserOutput, Vec } from '../../src/core/types.ts';

function maxAbs(a: Vec, b: Vec): number {
  let m = 0;
  for (let i = 0; i < a.length; i++) m = Math.max(m, Math.abs(a[i] - b[i]));
  return m;
}

const mixture: GaussianMixture = {
  weights: [0.5, 0.3, 0.2],
  means: [
    [2, -1],
    [-2, 0.5],
    [0, 3],
  ],
  stds: [0.4, 0.6, 0.2],
};
const dim = 2;
const labels = new Int32Array([0, 1, 2, NULL_LABEL, 1]);

function normals(n: number, seed: number, scale = 1): Float64Array {
  const x = new Float64Array(n);
  new NormalStream(seed, 0, 9).fill(x);
  return x.map((v) => v * scale);
}

function batch(seed: number, scale = 2): Float64Array {
  return normals(labels.length * dim, seed, scale);
}

describe('mixtureVpModel', () => {
  const schedule = makeSchedule('linear', 1000);

  it('predicts x0 = E[x0 | x_t / alpha] at the sigma of its timestep, and eps, v consistent with it', () => {
    const xt = normals(10, 1);
    const exact = new MixtureDenoiser(mixture);
    for (const t of [0, 17, 400, 999, 123.25]) {
      const sigma = tToSigma(schedule, t);
      const alpha = 1 / Math.sqrt(1 + sigma * sigma);
      const sv = sigma * alpha;
      const x0 = mixtureVpModel(mixture, schedule, 'x0').predict(xt, t);
      const ref = exact.denoise(
        xt.map((v) => v / alpha),
        sigma,
      ).x0;
      expect(maxAbs(x0, ref)).toBeLessThan(1e-14);
      const eps = mixtureVpModel(mixture, schedule, 'eps').predict(xt, t);
      const v = mixtureVpModel(mixture, schedule, 'v').predict(xt, t);
      for (let i = 0; i < xt.length; i++) {
        // x_t = alpha x0 + sigmaVp eps; v = alpha eps - sigmaVp x0.
        expect(Math.abs(alpha * x0[i] + sv * eps[i] - xt[i])).toBeLessThan(1e-12);
        expect(Math.abs(v[i] - (alpha * eps[i] - sv * x0[i]))).toBeLessThan(1e-10);
      }
    }
  });

  it('counts calls, has factor 1, keeps the batch type, survives detaching predict', () => {
    const model = mixtureVpModel(mixture, schedule, 'eps');
    expect(model.dim).toBe(2);
    expect(model.outputChannelsFactor).toBe(1);
    const predict = model.predict;
    expect(predict(new Float32Array(4), 5)).toBeInstanceOf(Float32Array);
    expect(model.predict(new Float64Array(4), 5)).toBeInstanceOf(Float64Array);
    expect(model.calls).toBe(2);
    expect(() => model.predict(new Float64Array(3), 5)).toThrow(/multiple of dim/);
    expect(() => model.predict(new Float64Array(4), 1000)).toThrow(RangeError);
  });
});

describe('classMixtureDenoiser', () => {
  it('label k is the exact posterior mean of component k; NULL_LABEL the whole mixture', () => {
    const model = classMixtureDenoiser(mixture);
    const x = batch(1);
    const sigma = 0.8;
    const out = model.denoise(x, sigma, labels) as DenoiserOutput;
    const whole = new MixtureDenoiser(mixture).denoise(x, sigma).x0;
    labels.forEach((k, j) => {
      for (let d = 0; d < dim; d++) {
        const i = j * dim + d;
        if (k === NULL_LABEL) {
          expect(out.x0[i]).toBe(whole[i]);
        } else {
          const mu = mixture.means[k][d];
          const s2 = mixture.stds[k] ** 2;
          expect(Math.abs(out.x0[i] - (mu + (s2 / (s2 + sigma * sigma)) * (x[i] - mu)))).toBeLessThan(1e-15);
        }
      }
    });
    expect(model.calls).toBe(1);
  });

  it('validates labels and batch size; keeps the batch type', () => {
    const model = classMixtureDenoiser(mixture);
    expect(() => model.denoise(new Float64Array(2), 1, new Int32Array([3]))).toThrow(/label 3/);
    expect(() => model.denoise(new Float64Array(2), 1, new Int32Array([-2]))).toThrow(/NULL_LABEL/);
    expect(() => model.denoise(new Float64Array(4), 1, new Int32Array([0]))).toThrow(/does not match/);
    const out = model.denoise(new Float32Array(2), 1, new Int32Array([0])) as DenoiserOutput;
    expect(out.x0).toBeInstanceOf(Float32Array);
  });
});
