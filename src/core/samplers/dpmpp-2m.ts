/**
 * DPM-Solver++(2M) (Lu et al. 2022): k-diffusion's sample_dpmpp_2m. Data-prediction exponential integrator in
 * lambda = -log sigma, second order by linear extrapolation of D through the previous step's denoised value.
 * First step, and a step to sigma = 0 (h = infinity), are first order: x = (sigma_{i+1} / sigma_i) x + (1 - e^-h) D.
 */
import type { Sampler, Vec } from '../types.ts';
import { like, resolveOptions, runSteps } from './common.ts';

export type DpmPP2MOptions = Record<string, never>;

export const DPMPP_2M_DEFAULTS: DpmPP2MOptions = {};

export const sampleDpmPP2M: Sampler<DpmPP2MOptions> = async (args, options) => {
  resolveOptions('dpmpp-2m', DPMPP_2M_DEFAULTS, options);
  let oldDenoised: Vec | null = null;
  return runSteps(args, { name: 'dpmpp-2m', needsNoise: false }, (s, run) => {
    const { x0 } = s;
    const n = s.x.length;
    const x: Vec = like(s.x);
    // h = lambda_{i+1} - lambda_i with lambda = -log sigma; 1 - e^-h = -expm1(-h) = 1 when sigmaNext = 0.
    const h = Math.log(s.sigma) - Math.log(s.sigmaNext);
    const ratio = s.sigmaNext / s.sigma;
    const c = -Math.expm1(-h);
    if (oldDenoised === null || s.sigmaNext === 0) {
      for (let k = 0; k < n; k++) x[k] = ratio * s.x[k] + c * x0[k];
    } else {
      const hLast = Math.log(run.sigmas[s.i - 1]) - Math.log(s.sigma);
      const q = 1 / (2 * (hLast / h));
      const old = oldDenoised;
      for (let k = 0; k < n; k++) x[k] = ratio * s.x[k] + c * ((1 + q) * x0[k] - q * old[k]);
    }
    oldDenoised = x0;
    return x;
  });
};
