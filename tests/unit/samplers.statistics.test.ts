/**
 * Samplers reproduce a 2-D Gaussian mixture in distribution: weights, means and covariances of 4000 samples.
 *
 * Data: three well-separated isotropic components. Every sample is assigned to the nearest mean; the nearest-mean
 * boundaries lie >= 4.3 component stds from each mean (P(misassigned) < 1e-5 per sample, so neither the weights
 * nor the truncated covariances are measurably biased by the assignment).
 *
 * Start: x_T = x0 + sigma_max z with x0 an exact draw from the mixture, i.e. an exact draw from the noised marginal
 * at sigma_max (no prior-mismatch bias). Noise: per-sample streams (BatchNoise), fixed seeds, so the test is
 * deterministic; tolerances are still derived as if it were not (below), so that a passing seed is not luck.
 *
 * Tolerances, for n samples, component k with weight w, std s, and n_k samples assigned to it:
 *   weight:     5 * sqrt(w (1 - w) / n)           (binomial standard error)          + 0.01
 *   mean:       5 * s / sqrt(n_k)                  (standard error of a mean)         + 0.05 s
 *   variance:   5 * s^2 * sqrt(2 / (n_k - 1))      (s.e. of a Gaussian sample variance) + 0.05 s^2
 *   covariance: 5 * s^2 / sqrt(n_k - 1)            (s.e. of a sample covariance, rho = 0) + 0.05 s^2
 * The additive terms are the discretization allowance: averaged over 6 seeds, the samplers and grids below were
 * within ~5% of the true variances and ~0.01 of the true weights when this test was written.
 */
import { describe, expect, it } from 'vitest';
import { MixtureDenoiser, sampleMixture, type GaussianMixture } from '../../src/core/gmm.ts';
import { BatchNoise, initialNoise } from '../../src/core/rng.ts';
import { SAMPLERS, type SamplerName } from '../../src/core/samplers/index.ts';
import { karrasSigmas } from '../../src/core/spacing.ts';
import type { NoiseSource, Vec } from '../../src/core/types.ts';

const MIXTURE: GaussianMixture = {
  weights: [0.2, 0.3, 0.5],
  means: [
    [-5, 0],
    [5, 0],
    [0, 7],
  ],
  stds: [0.5, 0.7, 1.0],
};
const K = 3;
const DIM = 2;
const N = 4000;
const SIGMA_MAX = 80;
const SIGMA_MIN = 0.002;

/** `steps` steps geometric in sigma from SIGMA_MAX to SIGMA_MIN, then a last step to 0. */
function geometric(steps: number): Float64Array {
  const out = new Float64Array(steps + 1);
  for (let i = 0; i < steps; i++) out[i] = SIGMA_MAX * (SIGMA_MIN / SIGMA_MAX) ** (i / (steps - 1));
  return out;
}

const xT = (() => {
  const x0 = sampleMixture(MIXTURE, N, 11);
  const z = initialNoise(12, 0, N, DIM, Float64Array);
  for (let i = 0; i < x0.length; i++) x0[i] += SIGMA_MAX * z[i];
  return x0;
})();

interface Stats {
  count: number[];
  mean: number[][];
  /** [var x, cov xy, var y] per component (unbiased). */
  cov: number[][];
}

function mixtureStats(x: Vec): Stats {
  const label = new Uint8Array(N);
  const count = [0, 0, 0];
  const sum = new Float64Array(K * DIM);
  for (let j = 0; j < N; j++) {
    const a = x[2 * j];
    const b = x[2 * j + 1];
    let best = 0;
    let bestD = Infinity;
    for (let k = 0; k < K; k++) {
      const d = (a - MIXTURE.means[k][0]) ** 2 + (b - MIXTURE.means[k][1]) ** 2;
      if (d < bestD) [best, bestD] = [k, d];
    }
    label[j] = best;
    count[best]++;
    sum[2 * best] += a;
    sum[2 * best + 1] += b;
  }
  const mean = count.map((c, k) => [sum[2 * k] / c, sum[2 * k + 1] / c]);
  const acc = new Float64Array(K * 3);
  for (let j = 0; j < N; j++) {
    const k = label[j];
    const a = x[2 * j] - mean[k][0];
    const b = x[2 * j + 1] - mean[k][1];
    acc[3 * k] += a * a;
    acc[3 * k + 1] += a * b;
    acc[3 * k + 2] += b * b;
  }
  const cov = count.map((c, k) => [acc[3 * k] / (c - 1), acc[3 * k + 1] / (c - 1), acc[3 * k + 2] / (c - 1)]);
  return { count, mean, cov };
}

/** Every statistic outside its tolerance, as readable lines (empty when the samples match the mixture). */
function violations(x: Vec): string[] {
  const { count, mean, cov } = mixtureStats(x);
  const out: string[] = [];
  const check = (what: string, got: number, want: number, tol: number) => {
    if (!(Math.abs(got - want) <= tol)) out.push(`${what}: ${got.toFixed(4)} vs ${want} (tol ${tol.toFixed(4)})`);
  };
  for (let k = 0; k < K; k++) {
    const w = MIXTURE.weights[k];
    const s = MIXTURE.stds[k];
    const s2 = s * s;
    const nk = count[k];
    check(`weight ${k}`, nk / N, w, 5 * Math.sqrt((w * (1 - w)) / N) + 0.01);
    if (nk < 10) {
      out.push(`component ${k} has only ${nk} samples`);
      continue;
    }
    for (let d = 0; d < DIM; d++)
      check(`mean ${k}[${d}]`, mean[k][d], MIXTURE.means[k][d], (5 * s) / Math.sqrt(nk) + 0.05 * s);
    const varTol = 5 * s2 * Math.sqrt(2 / (nk - 1)) + 0.05 * s2;
    check(`var ${k} x`, cov[k][0], s2, varTol);
    check(`var ${k} y`, cov[k][2], s2, varTol);
    check(`cov ${k} xy`, cov[k][1], 0, (5 * s2) / Math.sqrt(nk - 1) + 0.05 * s2);
  }
  return out;
}

async function sample(
  name: SamplerName,
  sigmas: Float64Array,
  options: Record<string, unknown> = {},
  noise?: NoiseSource,
) {
  const denoiser = new MixtureDenoiser(MIXTURE);
  const r = await SAMPLERS[name].run(
    { denoiser, sigmas, x: xT, noise: noise ?? new BatchNoise(13, 0, N, DIM) },
    options,
  );
  expect(r.x).toBeInstanceOf(Float64Array);
  return r.x;
}

describe('samplers reproduce a 2-D Gaussian mixture (weights, means, covariances)', () => {
  it('the statistics harness accepts exact draws from the mixture', () => {
    expect(violations(sampleMixture(MIXTURE, N, 99))).toEqual([]);
  });

  it.each([
    ['ddpm, beta-tilde variance, 300 geometric steps', 'ddpm', geometric(300), { variance: 'beta-tilde' }],
    ['ddpm, beta variance, 300 geometric steps', 'ddpm', geometric(300), { variance: 'beta' }],
    ['euler-ancestral, 300 Karras steps', 'euler-ancestral', karrasSigmas(300, SIGMA_MIN, SIGMA_MAX), {}],
    ['dpmpp-2m-sde midpoint, 100 Karras steps', 'dpmpp-2m-sde', karrasSigmas(100, SIGMA_MIN, SIGMA_MAX), {}],
    [
      'dpmpp-2m-sde heun, 100 Karras steps',
      'dpmpp-2m-sde',
      karrasSigmas(100, SIGMA_MIN, SIGMA_MAX),
      { solver_type: 'heun' },
    ],
    ['dpmpp-2m (deterministic), 50 Karras steps', 'dpmpp-2m', karrasSigmas(50, SIGMA_MIN, SIGMA_MAX), {}],
  ] as const)('%s', async (_, name, sigmas, options) => {
    expect(violations(await sample(name, sigmas, options))).toEqual([]);
  });

  it('fails a sampler that loses its noise (negative control: the tolerances have power)', async () => {
    // DDPM run with all-zero "noise" follows the posterior mean only: the samples collapse towards the component
    // means, so variances are far too small; the check must catch that.
    const zero: NoiseSource = { normal: (out) => void out.fill(0) };
    const bad = violations(await sample('ddpm', geometric(100), {}, zero));
    expect(bad.some((v) => v.startsWith('var'))).toBe(true);
  });
});
