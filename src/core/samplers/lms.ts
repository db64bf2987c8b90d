/**
 * Linear multistep (Adams-Bashforth with variable steps) on the PF-ODE: k-diffusion's sample_lms.
 * x_{i+1} = x_i + sum_j c_j d_{i-j}, where d = (x - D) / sigma and c_j is the integral over [sigma_i, sigma_{i+1}] of
 * the Lagrange basis polynomial of node sigma_{i-j} through sigma_i, ..., sigma_{i-order+1}. The first steps warm up
 * with the orders available (1, 2, ...). k-diffusion integrates the polynomial with scipy's adaptive quad; we
 * expand it and integrate it exactly, which is the same value without the quadrature tolerance.
 */
import type { Sampler, Vec } from '../types.ts';
import { like, resolveOptions, runSteps } from './common.ts';

export interface LmsOptions {
  order: number;
}

export const LMS_DEFAULTS: LmsOptions = { order: 4 };

/**
 * The order coefficients of step i: c_j = integral_{t_i}^{t_{i+1}} prod_{k != j} (tau - t_{i-k}) / (t_{i-j} - t_{i-k})
 * for j = 0 .. order - 1. The product is expanded in u = tau - t_i (well conditioned: |u| is one step) and each
 * monomial u^m integrates to H^{m+1} / (m + 1), H = t_{i+1} - t_i.
 */
export function lmsCoefficients(t: ArrayLike<number>, i: number, order: number): number[] {
  if (order - 1 > i) throw new RangeError(`lms: order ${order} too high for step ${i}`);
  const H = t[i + 1] - t[i];
  const coeffs: number[] = [];
  for (let j = 0; j < order; j++) {
    let poly = [1]; // poly[m] is the coefficient of u^m
    let denom = 1;
    for (let k = 0; k < order; k++) {
      if (k === j) continue;
      const root = t[i - k] - t[i];
      const next = new Array<number>(poly.length + 1).fill(0);
      for (let m = 0; m < poly.length; m++) {
        next[m + 1] += poly[m];
        next[m] -= root * poly[m];
      }
      poly = next;
      denom *= t[i - j] - t[i - k];
    }
    let integral = 0;
    for (let m = 0; m < poly.length; m++) integral += (poly[m] * H ** (m + 1)) / (m + 1);
    coeffs.push(integral / denom);
  }
  return coeffs;
}

export const sampleLms: Sampler<LmsOptions> = async (args, options) => {
  const o = resolveOptions('lms', LMS_DEFAULTS, options);
  if (!Number.isInteger(o.order) || o.order < 1 || o.order > 8) {
    throw new RangeError(`lms: option "order" must be an integer in [1, 8], got ${o.order}`);
  }
  const ds: Vec[] = []; // newest last, at most `order` derivatives
  return runSteps(args, { name: 'lms', needsNoise: false }, (s, run) => {
    ds.push(s.eps);
    if (ds.length > o.order) ds.shift();
    const c = lmsCoefficients(run.sigmas, s.i, Math.min(s.i + 1, o.order));
    const n = s.x.length;
    const x: Vec = like(s.x);
    for (let k = 0; k < n; k++) {
      let acc = 0;
      for (let j = 0; j < c.length; j++) acc += c[j] * ds[ds.length - 1 - j][k];
      x[k] = s.x[k] + acc;
    }
    return x;
  });
};
