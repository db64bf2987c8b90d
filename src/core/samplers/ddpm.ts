/**
 * DDPM ancestral sampling (Ho et al. 2020; learned variance from Nichol & Dhariwal 2021) in sigma space.
 *
 * With abar_t = 1 / (1 + sigma_i^2) and abar_s = 1 / (1 + sigma_{i+1}^2), the (respaced) step has
 * beta = 1 - abar_t / abar_s and beta-tilde = (1 - abar_s) / (1 - abar_t) * beta. The VP posterior
 *   x_s = sqrt(abar_s) beta / (1 - abar_t) x0 + sqrt(1 - beta) (1 - abar_s) / (1 - abar_t) x_t^vp + sqrt(var) z,
 * with x^vp = sqrt(abar) x and divided by sqrt(abar_s), is in sigma space (r = sigma_{i+1}^2 / sigma_i^2)
 *   x_{i+1} = x0 + r (x - x0) + sqrt(var * (1 + sigma_{i+1}^2)) z,
 *   beta-tilde * (1 + sigma_{i+1}^2) = sigma_{i+1}^2 (1 - r),
 *   beta * (1 + sigma_{i+1}^2)       = (sigma_i^2 - sigma_{i+1}^2) (1 + sigma_{i+1}^2) / (1 + sigma_i^2).
 * Learned: log var = frac log beta + (1 - frac) log beta-tilde (the (1 + sigma^2) factor passes through the
 * interpolation since the weights sum to 1). As in improved DDPM no noise is added on the step to sigma = 0.
 */
import type { Sampler, Vec } from '../types.ts';
import { like, resolveOptions, runSteps } from './common.ts';

export type DdpmVariance = 'beta' | 'beta-tilde' | 'learned';

export interface DdpmOptions {
  /** 'beta' (fixedlarge), 'beta-tilde' (fixedsmall, the true posterior variance) or 'learned' (needs varFrac). */
  variance: DdpmVariance;
}

export const DDPM_DEFAULTS: DdpmOptions = { variance: 'beta-tilde' };

const VARIANCES: readonly DdpmVariance[] = ['beta', 'beta-tilde', 'learned'];

/** Sigma-space log variances of the step sigma -> sigmaNext (log beta-tilde = -Infinity at sigmaNext = 0). */
export function ddpmLogVariances(sigma: number, sigmaNext: number): { logBeta: number; logBetaTilde: number } {
  const s2 = sigma * sigma;
  const n2 = sigmaNext * sigmaNext;
  return {
    logBeta: Math.log(s2 - n2) + Math.log1p(n2) - Math.log1p(s2),
    logBetaTilde: Math.log(n2) + Math.log1p(-n2 / s2),
  };
}

export const sampleDdpm: Sampler<DdpmOptions> = async (args, options) => {
  const o = resolveOptions('ddpm', DDPM_DEFAULTS, options);
  if (!VARIANCES.includes(o.variance)) {
    throw new RangeError(`ddpm: option "variance" must be one of ${VARIANCES.join(', ')}, got ${o.variance}`);
  }
  // Improved DDPM clips log beta-tilde at its last step (where beta-tilde = 0) to the previous step's value. That
  // step goes to sigma = 0 and adds no noise, so the clipped value never reaches x; it is kept for fidelity.
  let prevLogBetaTilde = -Infinity;
  return runSteps(args, { name: 'ddpm', needsNoise: true }, (s, run) => {
    const { x0 } = s;
    const n = s.x.length;
    const r = (s.sigmaNext * s.sigmaNext) / (s.sigma * s.sigma);
    const x: Vec = like(s.x);
    for (let k = 0; k < n; k++) x[k] = x0[k] + r * (s.x[k] - x0[k]);
    const lv = ddpmLogVariances(s.sigma, s.sigmaNext);
    const logBetaTilde = Number.isFinite(lv.logBetaTilde) ? lv.logBetaTilde : prevLogBetaTilde;
    prevLogBetaTilde = logBetaTilde;
    if (o.variance === 'learned') {
      const frac = s.out.varFrac;
      if (!frac || frac.length !== n) {
        throw new TypeError(
          'ddpm: variance "learned" needs a denoiser that returns varFrac (a model trained with learned variance)',
        );
      }
      if (s.sigmaNext === 0) return x;
      const z = run.normal(n);
      for (let k = 0; k < n; k++) {
        const f = frac[k];
        x[k] += Math.exp(0.5 * (f * lv.logBeta + (1 - f) * logBetaTilde)) * z[k];
      }
      return x;
    }
    if (s.sigmaNext === 0) return x;
    const std = Math.exp(0.5 * (o.variance === 'beta' ? lv.logBeta : logBetaTilde));
    const z = run.normal(n);
    for (let k = 0; k < n; k++) x[k] += std * z[k];
    return x;
  });
};
