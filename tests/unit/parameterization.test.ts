import { describe, expect, it } from 'vitest';
import { mixtureVpModel } from '../../src/core/analytic.ts';
import { qSample } from '../../src/core/forward.ts';
import { MixtureDenoiser, type GaussianMixture } from '../../src/core/gmm.ts';
import {
  PREDICTIONS,
  predictionToX0,
  trainingTarget,
  vpDenoiser,
  x0ToPrediction,
  type Prediction,
  type VpModel,
} from '../../src/core/parameterization.ts';
import { NormalStream } from '../../src/core/rng.ts';
import { makeSchedule } from '../../src/core/schedules.ts';
import { sigmaToT } from '../../src/core/spacing.ts';
import type { DenoiserOutput, Vec } from '../../src/core/types.ts';

function maxAbs(a: Vec, b: Vec): number {
  let m = 0;
  for (let i = 0; i < a.length; i++) m = Math.max(m, Math.abs(a[i] - b[i]));
  return m;
}

function normals(n: number, seed: number): Float64Array {
  const out = new Float64Array(n);
  new NormalStream(seed, 0, 9).fill(out);
  return out;
}

const mixture: GaussianMixture = {
  weights: [0.5, 0.3, 0.2],
  means: [
    [1, -1, 0.5],
    [-1.5, 0.5, 1],
    [0, 2, -2],
  ],
  stds: [0.3, 0.5, 0.1],
};

describe('prediction converters (VP, float64)', () => {
  const n = 64;
  const x0 = normals(n, 1);
  const eps = normals(n, 2);

  it('x0 -> target -> x0 and x0 -> prediction round trips for every prediction type', () => {
    for (const abar of [1e-4, 0.02, 0.5, 0.9, 0.9999]) {
      const xt = qSample(abar, x0, eps, new Float64Array(n));
      for (const p of PREDICTIONS) {
        const target = trainingTarget(p, x0, eps, abar, new Float64Array(n));
        const back = predictionToX0(p, target, xt, abar, new Float64Array(n));
        // Dividing by alpha amplifies rounding at high noise for eps; still ~1e-12 of |x_t| / alpha.
        expect(maxAbs(back, x0)).toBeLessThan(1e-11);
        const pred = x0ToPrediction(p, x0, xt, abar, new Float64Array(n));
        expect(maxAbs(pred, target)).toBeLessThan(1e-10);
      }
    }
  });

  it('chains eps -> x0 -> v -> x0 -> eps', () => {
    const abar = 0.37;
    const xt = qSample(abar, x0, eps, new Float64Array(n));
    const x0a = predictionToX0('eps', eps, xt, abar, new Float64Array(n));
    const v = x0ToPrediction('v', x0a, xt, abar, new Float64Array(n));
    const x0b = predictionToX0('v', v, xt, abar, new Float64Array(n));
    const eps2 = x0ToPrediction('eps', x0b, xt, abar, new Float64Array(n));
    expect(maxAbs(eps2, eps)).toBeLessThan(1e-14);
  });

  it('v is alpha eps - sigmaVp x0 (Salimans & Ho)', () => {
    const abar = 0.64;
    const v = trainingTarget('v', x0, eps, abar, new Float64Array(n));
    for (let i = 0; i < n; i++) expect(Math.abs(v[i] - (0.8 * eps[i] - 0.6 * x0[i]))).toBeLessThan(1e-15);
    expect(Array.from(trainingTarget('eps', x0, eps, abar, new Float64Array(n)))).toEqual(Array.from(eps));
    expect(Array.from(trainingTarget('x0', x0, eps, abar, new Float64Array(n)))).toEqual(Array.from(x0));
  });

  it('works in place and rejects bad arguments', () => {
    const abar = 0.5;
    const xt = qSample(abar, x0, eps, new Float64Array(n));
    const buf = Float64Array.from(eps);
    predictionToX0('eps', buf, xt, abar, buf);
    expect(maxAbs(buf, x0)).toBeLessThan(1e-14);
    expect(() => predictionToX0('eps', eps, xt, 0, new Float64Array(n))).toThrow(RangeError);
    expect(() => predictionToX0('eps', eps, xt, 0.5, new Float64Array(3))).toThrow(RangeError);
    expect(() => trainingTarget('score' as Prediction, x0, eps, 0.5, new Float64Array(n))).toThrow(
      /unknown prediction/,
    );
  });
});

describe('vpDenoiser', () => {
  const schedules = [makeSchedule('linear', 1000), makeSchedule('cosine', 1000)];
  const batch = 8;
  const dim = 3;

  it('on the analytic VP mixture equals the exact MixtureDenoiser, for every prediction type (1e-10)', () => {
    const exact = new MixtureDenoiser(mixture);
    const z = normals(batch * dim, 3);
    for (const schedule of schedules) {
      for (const p of PREDICTIONS) {
        const model = mixtureVpModel(mixture, schedule, p);
        const den = vpDenoiser(model, schedule, p);
        expect(den.dim).toBe(dim);
        let worst = 0;
        for (const t of [0, 1, 10, 100, 250, 500, 750, 900, 990, 998, 999]) {
          const sigma = schedule.sigmas[t];
          const x = new Float64Array(batch * dim);
          const data = normals(batch * dim, 100 + t);
          for (let i = 0; i < x.length; i++) x[i] = data[i] + sigma * z[i];
          const got = den.denoise(x, sigma) as DenoiserOutput;
          expect(got.x0).toBeInstanceOf(Float64Array);
          expect(got.varFrac).toBeUndefined();
          worst = Math.max(worst, maxAbs(got.x0, exact.denoise(x, sigma).x0));
        }
        expect(worst, `${schedule.name} ${p}`).toBeLessThan(1e-10);
        expect(model.calls).toBe(11);
      }
    }
  });

  it('also between timesteps (fractional t)', () => {
    const schedule = schedules[0];
    const exact = new MixtureDenoiser(mixture);
    const x = normals(batch * dim, 4).map((v) => 3 * v);
    for (const p of PREDICTIONS) {
      const den = vpDenoiser(mixtureVpModel(mixture, schedule, p), schedule, p);
      for (const sigma of [0.05, 0.7, 3.3, 42]) {
        const got = den.denoise(x, sigma) as DenoiserOutput;
        expect(maxAbs(got.x0, exact.denoise(x, sigma).x0)).toBeLessThan(1e-10);
      }
    }
  });

  it('passes x sqrt(abar) and the fractional t = sigmaToT(sigma) to the model, once per call, without touching x', () => {
    const schedule = schedules[0];
    const seen: { xt: Vec; t: number }[] = [];
    const model: VpModel = {
      dim: 2,
      outputChannelsFactor: 1,
      predict(xt, t) {
        seen.push({ xt: Float64Array.from(xt), t });
        return new Float64Array(xt.length);
      },
    };
    const den = vpDenoiser(model, schedule, 'eps');
    const x = new Float64Array([1, 2, 3, 4]);
    const sigma = 2;
    const out = den.denoise(x, sigma) as DenoiserOutput;
    expect(seen.length).toBe(1);
    expect(seen[0].t).toBe(sigmaToT(schedule, sigma));
    expect(Array.from(seen[0].xt)).toEqual(Array.from(x, (v) => v / Math.sqrt(5)));
    expect(Array.from(x)).toEqual([1, 2, 3, 4]);
    expect(Array.from(out.x0)).toEqual([1, 2, 3, 4]); // eps = 0 -> x0 = x
    expect(() => den.denoise(new Float64Array(3), 1)).toThrow(/multiple of dim/);
    expect(() => den.denoise(x, 0)).toThrow(RangeError);
  });

  it('keeps Float32 batches Float32 and agrees with float64 to float32 precision', () => {
    const schedule = schedules[0];
    const den = vpDenoiser(mixtureVpModel(mixture, schedule, 'v'), schedule, 'v');
    const x64 = normals(batch * dim, 5);
    const x32 = Float32Array.from(x64);
    const o32 = (den.denoise(x32, 1.5) as DenoiserOutput).x0;
    const o64 = (den.denoise(Float64Array.from(x32), 1.5) as DenoiserOutput).x0;
    expect(o32).toBeInstanceOf(Float32Array);
    expect(maxAbs(o32, o64)).toBeLessThan(1e-5);
  });

  it('clips x0 to [-clipX0, clipX0]', () => {
    const model: VpModel = { dim: 3, outputChannelsFactor: 1, predict: () => new Float64Array([-5, 0.5, 7]) };
    const den = vpDenoiser(model, schedules[0], 'x0', { clipX0: 1 });
    expect(Array.from((den.denoise(new Float64Array(3), 1) as DenoiserOutput).x0)).toEqual([-1, 0.5, 1]);
    expect(() => vpDenoiser(model, schedules[0], 'x0', { clipX0: 0 })).toThrow(RangeError);
  });

  it('learned variance: splits [prediction, v] per sample and returns varFrac = (v + 1) / 2', () => {
    // Two samples of dim 2: outputs [p0 p0 v0 v0 | p1 p1 v1 v1].
    const model: VpModel = {
      dim: 2,
      outputChannelsFactor: 2,
      predict: () => new Float64Array([0.1, 0.2, -1, 0, 0.3, 0.4, 1, 0.5]),
    };
    const schedule = schedules[0];
    const den = vpDenoiser(model, schedule, 'x0');
    const out = den.denoise(new Float32Array(4), 1) as DenoiserOutput;
    expect(out.x0).toBeInstanceOf(Float32Array);
    expect(out.varFrac).toBeInstanceOf(Float32Array);
    expect(Array.from(out.x0)).toEqual(Array.from(new Float32Array([0.1, 0.2, 0.3, 0.4])));
    expect(Array.from(out.varFrac!)).toEqual([0, 0.5, 1, 0.75]);
    const noVar = vpDenoiser(model, schedule, 'x0', { learnedVariance: false }).denoise(
      new Float64Array(4),
      1,
    ) as DenoiserOutput;
    expect(noVar.varFrac).toBeUndefined();
    expect(Array.from(noVar.x0)).toEqual([0.1, 0.2, 0.3, 0.4]);
    const plain: VpModel = { dim: 2, outputChannelsFactor: 1, predict: () => new Float64Array(4) };
    expect(() => vpDenoiser(plain, schedule, 'eps', { learnedVariance: true })).toThrow(/outputChannelsFactor 2/);
    const wrong: VpModel = { dim: 2, outputChannelsFactor: 2, predict: () => new Float64Array(4) };
    expect(() => vpDenoiser(wrong, schedule, 'eps').denoise(new Float64Array(4), 1)).toThrow(/expected 2 x 2 x 2/);
  });

  it('is asynchronous exactly when the model is', async () => {
    const schedule = schedules[0];
    const sync = mixtureVpModel(mixture, schedule, 'eps');
    const asyncModel: VpModel = { dim: 3, outputChannelsFactor: 1, predict: async (xt, t) => sync.predict(xt, t) };
    const x = normals(6, 6);
    const r = vpDenoiser(asyncModel, schedule, 'eps').denoise(x, 0.9);
    expect(r).toBeInstanceOf(Promise);
    const a = await r;
    const b = vpDenoiser(sync, schedule, 'eps').denoise(x, 0.9) as DenoiserOutput;
    expect(Array.from(a.x0)).toEqual(Array.from(b.x0));
  });

  it('rejects an unknown prediction type', () => {
    const model: VpModel = { dim: 1, outputChannelsFactor: 1, predict: (xt) => xt };
    expect(() => vpDenoiser(model, schedules[0], 'score' as Prediction)).toThrow(/unknown prediction/);
  });
});
