/**
 * Heun's method (trapezoidal predictor-corrector) on the PF-ODE: k-diffusion's sample_heun, Karras et al. (2022)
 * Algorithm 2. Second order, two NFE per step, except a step to sigma = 0 which is an Euler step (D is not defined
 * at sigma = 0): 2 * steps - 1 NFE when the schedule ends at 0, 2 * steps otherwise.
 */
import type { Sampler, Vec } from '../types.ts';
import { type ChurnOptions, checkChurn, churnPerturb, like, resolveOptions, runSteps } from './common.ts';

export type HeunOptions = ChurnOptions;

export const HEUN_DEFAULTS: HeunOptions = { s_churn: 0, s_tmin: 0, s_tmax: Infinity, s_noise: 1 };

export const sampleHeun: Sampler<HeunOptions> = async (args, options) => {
  const o = resolveOptions('heun', HEUN_DEFAULTS, options);
  checkChurn('heun', o);
  return runSteps(args, { name: 'heun', needsNoise: o.s_churn > 0, perturb: churnPerturb(o) }, async (s, run) => {
    const n = s.x.length;
    const dt = s.sigmaNext - s.sigma;
    const x2: Vec = like(s.x);
    for (let k = 0; k < n; k++) x2[k] = s.x[k] + s.eps[k] * dt;
    if (s.sigmaNext === 0) return x2;
    const x0b = (await run.denoise(x2, s.sigmaNext)).x0;
    const x: Vec = like(s.x);
    for (let k = 0; k < n; k++) {
      const d2 = (x2[k] - x0b[k]) / s.sigmaNext;
      x[k] = s.x[k] + ((s.eps[k] + d2) / 2) * dt;
    }
    return x;
  });
};
