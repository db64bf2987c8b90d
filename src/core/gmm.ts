/**
 * Gaussian-mixture data with isotropic components, p(x0) = sum_k w_k N(mu_k, s_k^2 I), in any dimension.
 *
 * Its noised marginals stay mixtures, so the exact denoiser E[x0 | x] is closed-form. That makes it the ground truth
 * for sampler tests and for the sampler lab's "true error": in sigma space x = x0 + sigma * eps,
 *   p(x) = sum_k w_k N(mu_k, (s_k^2 + sigma^2) I),
 *   E[x0 | x, k] = mu_k + s_k^2 / (s_k^2 + sigma^2) * (x - mu_k),
 *   E[x0 | x] = sum_k r_k(x) E[x0 | x, k], r_k the posterior responsibilities.
 * All arithmetic is float64 whatever the batch type.
 */
import { NormalStream } from './rng.ts';
import type { Denoiser, DenoiserOutput, Vec } from './types.ts';

export interface GaussianMixture {
  /** Mixture weights, positive; normalized on construction. */
  weights: number[];
  /** Component means, each of length dim. */
  means: number[][];
  /** Component standard deviations (isotropic), >= 0. */
  stds: number[];
}

/** Validate and normalize a mixture (e.g. parsed from a user's JSON file). Throws with a message naming the field. */
export function parseGaussianMixture(value: unknown): GaussianMixture {
  const o = value as Partial<GaussianMixture> | null;
  if (!o || typeof o !== 'object') throw new Error('mixture must be an object {"weights", "means", "stds"}');
  const { weights, means, stds } = o;
  if (!Array.isArray(weights) || weights.length === 0) throw new Error('mixture "weights" must be a non-empty array');
  if (!Array.isArray(means) || means.length !== weights.length) {
    throw new Error(`mixture "means" must be an array of ${weights.length} vectors (one per weight)`);
  }
  if (!Array.isArray(stds) || stds.length !== weights.length) {
    throw new Error(`mixture "stds" must be an array of ${weights.length} numbers (one per weight)`);
  }
  const dim = Array.isArray(means[0]) ? means[0].length : 0;
  if (dim === 0) throw new Error('mixture "means" must hold non-empty numeric vectors');
  means.forEach((m, k) => {
    if (!Array.isArray(m) || m.length !== dim || !m.every((v) => typeof v === 'number' && Number.isFinite(v))) {
      throw new Error(`mixture "means[${k}]" must be ${dim} finite numbers`);
    }
  });
  weights.forEach((w, k) => {
    if (typeof w !== 'number' || !(w > 0) || !Number.isFinite(w)) {
      throw new Error(`mixture "weights[${k}]" must be a positive finite number`);
    }
  });
  stds.forEach((s, k) => {
    if (typeof s !== 'number' || !(s >= 0) || !Number.isFinite(s)) {
      throw new Error(`mixture "stds[${k}]" must be a non-negative finite number`);
    }
  });
  const total = weights.reduce((a, b) => a + b, 0);
  return { weights: weights.map((w) => w / total), means: means.map((m) => [...m]), stds: [...stds] };
}

export function mixtureDim(g: GaussianMixture): number {
  return g.means[0].length;
}

/**
 * Exact E[x0 | x] for x = x0 + sigma * eps, written into out (same layout as x). Also returns nothing else:
 * responsibilities are computed in log space so that far-away points do not underflow to 0/0.
 */
export function mixturePosteriorMean(g: GaussianMixture, x: Vec, sigma: number, out: Vec): void {
  const dim = mixtureDim(g);
  const K = g.weights.length;
  const n = x.length / dim;
  const logw = new Float64Array(K);
  const shrink = new Float64Array(K);
  const s2 = sigma * sigma;
  for (let k = 0; k < K; k++) {
    const v = g.stds[k] ** 2 + s2;
    logw[k] = Math.log(g.weights[k]) - 0.5 * dim * Math.log(v);
    shrink[k] = v > 0 ? g.stds[k] ** 2 / v : 1;
  }
  const logr = new Float64Array(K);
  for (let j = 0; j < n; j++) {
    const o = j * dim;
    let maxLog = -Infinity;
    for (let k = 0; k < K; k++) {
      const mu = g.means[k];
      let d2 = 0;
      for (let d = 0; d < dim; d++) d2 += (x[o + d] - mu[d]) ** 2;
      const v = g.stds[k] ** 2 + s2;
      logr[k] = logw[k] - (0.5 * d2) / v;
      if (logr[k] > maxLog) maxLog = logr[k];
    }
    let z = 0;
    for (let k = 0; k < K; k++) {
      logr[k] = Math.exp(logr[k] - maxLog);
      z += logr[k];
    }
    for (let d = 0; d < dim; d++) {
      const xd = x[o + d];
      let acc = 0;
      for (let k = 0; k < K; k++) {
        const mu = g.means[k][d];
        acc += logr[k] * (mu + shrink[k] * (xd - mu));
      }
      out[o + d] = acc / z;
    }
  }
}

/** The exact denoiser of a mixture in sigma space. Counts its calls (NFE) for tests. */
export class MixtureDenoiser implements Denoiser {
  readonly dim: number;
  calls = 0;
  constructor(readonly mixture: GaussianMixture) {
    this.dim = mixtureDim(mixture);
  }
  denoise(x: Vec, sigma: number): DenoiserOutput {
    this.calls++;
    const out = new (x.constructor as Float32ArrayConstructor | Float64ArrayConstructor)(x.length);
    mixturePosteriorMean(this.mixture, x, sigma, out);
    return { x0: out };
  }
}

/**
 * Exact probability-flow ODE solution for a single isotropic Gaussian N(mu, s^2 I) in sigma space:
 * dx/dsigma = (x - D(x; sigma)) / sigma has x(sigma) - mu = (x(sigma0) - mu) * sqrt((s^2 + sigma^2) / (s^2 + sigma0^2)).
 */
export function gaussianFlow(
  mu: readonly number[],
  s: number,
  x: Vec,
  sigmaFrom: number,
  sigmaTo: number,
): Float64Array {
  const dim = mu.length;
  const k = Math.sqrt((s * s + sigmaTo * sigmaTo) / (s * s + sigmaFrom * sigmaFrom));
  const out = new Float64Array(x.length);
  for (let i = 0; i < x.length; i++) out[i] = mu[i % dim] + (x[i] - mu[i % dim]) * k;
  return out;
}

/** n exact draws from the mixture (data at sigma = 0), from per-sample streams of the given seed and purpose. */
export function sampleMixture(g: GaussianMixture, n: number, seed: number, purpose = 5): Float64Array {
  const dim = mixtureDim(g);
  const out = new Float64Array(n * dim);
  const cum: number[] = [];
  g.weights.reduce((acc, w) => (cum.push(acc + w), acc + w), 0);
  for (let j = 0; j < n; j++) {
    const stream = new NormalStream(seed, j, purpose);
    const u = stream.uniform();
    let k = cum.findIndex((c) => u < c);
    if (k < 0) k = g.weights.length - 1;
    stream.fill(out, j * dim, dim);
    for (let d = 0; d < dim; d++) out[j * dim + d] = g.means[k][d] + g.stds[k] * out[j * dim + d];
  }
  return out;
}
