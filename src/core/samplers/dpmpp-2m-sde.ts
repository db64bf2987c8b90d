/**
 * DPM-Solver++(2M) SDE: k-diffusion's sample_dpmpp_2m_sde (midpoint or Heun-type second-order correction).
 * With h = lambda_{i+1} - lambda_i (lambda = -log sigma):
 *   x <- (sigma_{i+1} / sigma_i) e^{-eta h} x + (1 - e^{-(1 + eta) h}) D  [+ second-order term in D - D_old]
 *        + sigma_{i+1} sqrt(1 - e^{-2 eta h}) s_noise z,
 * and the step to sigma = 0 returns D. eta = 0 is exactly DPM-Solver++(2M).
 *
 * Noise: k-diffusion defaults to a Brownian tree (the increment over [sigma_{i+1}, sigma_i] of one Brownian path per
 * sample), which keeps samples similar across step counts. Here z comes from the NoiseSource, i.e. each sample's
 * own Philox stream read once per step: batch-size invariant and reproducible per seed, but a different step count
 * gives a different Brownian path, so samples change more between grids than with a Brownian tree.
 */
import type { Sampler, Vec } from '../types.ts';
import { checkRange, like, resolveOptions, runSteps } from './common.ts';

export interface DpmPP2MSdeOptions {
  eta: number;
  s_noise: number;
  solver_type: 'midpoint' | 'heun';
}

export const DPMPP_2M_SDE_DEFAULTS: DpmPP2MSdeOptions = { eta: 1, s_noise: 1, solver_type: 'midpoint' };

export const sampleDpmPP2MSde: Sampler<DpmPP2MSdeOptions> = async (args, options) => {
  const name = 'dpmpp-2m-sde';
  const o = resolveOptions(name, DPMPP_2M_SDE_DEFAULTS, options);
  checkRange(name, 'eta', o.eta, 0);
  checkRange(name, 's_noise', o.s_noise, 0);
  if (o.solver_type !== 'midpoint' && o.solver_type !== 'heun') {
    throw new RangeError(`${name}: option "solver_type" must be 'midpoint' or 'heun', got ${o.solver_type}`);
  }
  let oldDenoised: Vec | null = null;
  let hLast = 0;
  return runSteps(args, { name, needsNoise: o.eta > 0 }, (s, run) => {
    const { x0 } = s;
    const n = s.x.length;
    const x: Vec = like(s.x);
    if (s.sigmaNext === 0) {
      // Denoising step.
      x.set(x0);
      oldDenoised = x0;
      return x;
    }
    const h = Math.log(s.sigma) - Math.log(s.sigmaNext);
    const etaH = o.eta * h;
    const a = (s.sigmaNext / s.sigma) * Math.exp(-etaH);
    const c = -Math.expm1(-h - etaH);
    for (let k = 0; k < n; k++) x[k] = a * s.x[k] + c * x0[k];
    if (oldDenoised !== null) {
      const r = hLast / h;
      const w = o.solver_type === 'heun' ? (c / (-h - etaH) + 1) * (1 / r) : 0.5 * c * (1 / r);
      const old = oldDenoised;
      for (let k = 0; k < n; k++) x[k] += w * (x0[k] - old[k]);
    }
    if (o.eta > 0) {
      const z = run.normal(n);
      const scale = s.sigmaNext * Math.sqrt(-Math.expm1(-2 * etaH)) * o.s_noise;
      for (let k = 0; k < n; k++) x[k] += z[k] * scale;
    }
    oldDenoised = x0;
    hLast = h;
    return x;
  });
};
