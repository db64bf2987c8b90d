/**
 * Euler on the probability-flow ODE dx/dsigma = (x - D(x; sigma)) / sigma: k-diffusion's sample_euler, i.e.
 * Karras et al. (2022) Algorithm 2 with Euler steps, including its optional churn. First order, one NFE per step.
 */
import type { Sampler, Vec } from '../types.ts';
import { type ChurnOptions, checkChurn, churnPerturb, like, resolveOptions, runSteps } from './common.ts';

export type EulerOptions = ChurnOptions;

export const EULER_DEFAULTS: EulerOptions = { s_churn: 0, s_tmin: 0, s_tmax: Infinity, s_noise: 1 };

export const sampleEuler: Sampler<EulerOptions> = async (args, options) => {
  const o = resolveOptions('euler', EULER_DEFAULTS, options);
  checkChurn('euler', o);
  return runSteps(args, { name: 'euler', needsNoise: o.s_churn > 0, perturb: churnPerturb(o) }, (s) => {
    const dt = s.sigmaNext - s.sigma;
    const x: Vec = like(s.x);
    for (let k = 0; k < x.length; k++) x[k] = s.x[k] + s.eps[k] * dt;
    return x;
  });
};
