/**
 * DDIM (Song et al. 2021) in sigma space. A VP model is seen through alpha-bar = 1 / (1 + sigma^2), so with
 * abar_t = 1 / (1 + sigma_i^2), abar_s = 1 / (1 + sigma_{i+1}^2) the VP update
 *   x_s = sqrt(abar_s) x0 + sqrt(1 - abar_s - sd^2) eps + sd z,
 *   sd = eta * sqrt((1 - abar_s) / (1 - abar_t)) * sqrt(1 - abar_t / abar_s),
 * divided by sqrt(abar_s) (x = x_vp / sqrt(abar), and (1 - abar) / abar = sigma^2) becomes exactly
 *   x_{i+1} = x0 + sigma_down * eps + sigma_up * z,
 *   sigma_up^2 = sd^2 / abar_s = eta^2 * sigma_{i+1}^2 * (sigma_i^2 - sigma_{i+1}^2) / sigma_i^2,
 *   sigma_down^2 = sigma_{i+1}^2 - sigma_up^2.
 * These closed forms avoid 1 - abar (cancellation at small sigma). We write the step as x + (sigma_down - sigma) eps
 * + sigma_up z, the same expression as k-diffusion's Euler: eta = 0 is bit-for-bit sample_euler, and eta = 1 is
 * DDPM with the beta-tilde (posterior) variance.
 */
import type { Sampler, Vec } from '../types.ts';
import { checkRange, like, resolveOptions, runSteps } from './common.ts';

export interface DdimOptions {
  /** 0: deterministic DDIM; 1: DDPM posterior noise. */
  eta: number;
}

export const DDIM_DEFAULTS: DdimOptions = { eta: 0 };

/** sigma_down and sigma_up (sigma space) of a DDIM step from sigma to sigmaNext. */
export function ddimStep(sigma: number, sigmaNext: number, eta: number): { sigmaDown: number; sigmaUp: number } {
  const r = (sigmaNext * sigmaNext) / (sigma * sigma);
  const sigmaUp = eta * sigmaNext * Math.sqrt(1 - r);
  // sigma_down^2 = sigmaNext^2 (1 - eta^2 (1 - r)) >= 0 for eta in [0, 1]; eta = 0 gives sqrt(sigmaNext^2), which
  // IEEE sqrt returns exactly as sigmaNext.
  const sigmaDown = eta === 0 ? sigmaNext : Math.sqrt(sigmaNext * sigmaNext * (1 - eta * eta * (1 - r)));
  return { sigmaDown, sigmaUp };
}

export const sampleDdim: Sampler<DdimOptions> = async (args, options) => {
  const o = resolveOptions('ddim', DDIM_DEFAULTS, options);
  checkRange('ddim', 'eta', o.eta, 0, 1);
  return runSteps(args, { name: 'ddim', needsNoise: o.eta > 0 }, (s, run) => {
    const { sigmaDown, sigmaUp } = ddimStep(s.sigma, s.sigmaNext, o.eta);
    const dt = sigmaDown - s.sigma;
    const x: Vec = like(s.x);
    for (let k = 0; k < x.length; k++) x[k] = s.x[k] + s.eps[k] * dt;
    if (sigmaUp > 0) {
      const z = run.normal(x.length);
      for (let k = 0; k < x.length; k++) x[k] += z[k] * sigmaUp;
    }
    return x;
  });
};
