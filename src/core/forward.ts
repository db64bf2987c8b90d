/**
 * The VP forward process and its exact posterior q(x_s | x_t, x0) for ANY pair of noise levels s < t, given by their
 * alpha-bars. Writing it for pairs (not for consecutive timesteps of one schedule) is what makes respaced DDPM work:
 * a sampler that jumps t -> s uses the one-step "beta" 1 - abar_t / abar_s of the jump.
 */
import type { Vec } from './types.ts';

/** x_t = sqrt(abar) x0 + sqrt(1 - abar) eps, elementwise into out (which may alias x0 or eps). */
export function qSample(alphaBar: number, x0: Vec, eps: Vec, out: Vec): Vec {
  if (!(alphaBar > 0 && alphaBar <= 1)) throw new RangeError(`alpha-bar must be in (0, 1], got ${alphaBar}`);
  if (x0.length !== eps.length || out.length !== x0.length)
    throw new RangeError('qSample: x0, eps and out differ in length');
  const a = Math.sqrt(alphaBar);
  const b = Math.sqrt(1 - alphaBar);
  for (let i = 0; i < out.length; i++) out[i] = a * x0[i] + b * eps[i];
  return out;
}

export interface PosteriorCoefficients {
  /** Mean = coefX0 * x0 + coefXt * x_t. */
  coefX0: number;
  coefXt: number;
  /** beta-tilde = (1 - abar_s) / (1 - abar_t) * beta: the posterior variance (0 when abar_s = 1). */
  variance: number;
  /** log(max(variance, 1e-20)); see posteriorCoefficients. */
  logVarianceClipped: number;
  /** 1 - abar_t / abar_s: the variance of the jump's forward step q(x_t | x_s). */
  beta: number;
}

/** Floor of the posterior variance before the log, as diffusers' DDPMScheduler clamps it (min=1e-20). */
export const POSTERIOR_VARIANCE_FLOOR = 1e-20;

/**
 * Coefficients of q(x_s | x_t, x0), s < t (so 0 < alphaBarT < alphaBarS <= 1), in float64:
 *   beta = 1 - abar_t / abar_s,
 *   mean = sqrt(abar_s) beta / (1 - abar_t) * x0 + sqrt(abar_t / abar_s) (1 - abar_s) / (1 - abar_t) * x_t,
 *   variance = (1 - abar_s) / (1 - abar_t) * beta.
 * logVarianceClipped: for a single pair we cannot know improved DDPM's replacement for the zero variance of the last
 * step (it uses the NEXT step's variance), so it is log(max(variance, 1e-20)) as in diffusers. The value only matters
 * for the learned-range interpolation at the step to abar_s = 1, where samplers add no noise anyway; use
 * posteriorLogVariancesClipped for improved DDPM's exact per-chain values (e.g. for the variational bound).
 */
export function posteriorCoefficients(alphaBarT: number, alphaBarS: number): PosteriorCoefficients {
  if (!(alphaBarT > 0 && alphaBarT < alphaBarS && alphaBarS <= 1)) {
    throw new RangeError(
      `posterior q(x_s | x_t, x0) needs 0 < abar_t < abar_s <= 1 (s less noisy than t), got abar_t=${alphaBarT}, abar_s=${alphaBarS}`,
    );
  }
  const beta = 1 - alphaBarT / alphaBarS;
  const oneMinusT = 1 - alphaBarT;
  const oneMinusS = 1 - alphaBarS;
  const variance = (oneMinusS / oneMinusT) * beta;
  return {
    coefX0: (Math.sqrt(alphaBarS) * beta) / oneMinusT,
    coefXt: (Math.sqrt(alphaBarT / alphaBarS) * oneMinusS) / oneMinusT,
    variance,
    logVarianceClipped: Math.log(Math.max(variance, POSTERIOR_VARIANCE_FLOOR)),
    beta,
  };
}

/**
 * improved DDPM's posterior_log_variance_clipped for a whole chain. alphaBars: the chain's alpha-bars in sampling
 * order (noisiest first, strictly increasing); step i goes from alphaBars[i] to alphaBars[i+1], and the last step to
 * abar = 1. The last step's variance is 0, so it takes the previous step's variance (improved DDPM uses the variance
 * of t = 1 at t = 0). Returns one log variance per step (length alphaBars.length, which must be >= 2).
 */
export function posteriorLogVariancesClipped(alphaBars: ArrayLike<number>): Float64Array {
  const n = alphaBars.length;
  if (n < 2) throw new RangeError('posteriorLogVariancesClipped needs a chain of at least 2 alpha-bars');
  const out = new Float64Array(n);
  for (let i = 0; i < n - 1; i++) out[i] = Math.log(posteriorCoefficients(alphaBars[i], alphaBars[i + 1]).variance);
  out[n - 1] = out[n - 2];
  return out;
}

/** out = coefX0 * x0 + coefXt * xt (out may alias either input). */
export function posteriorMean(c: PosteriorCoefficients, x0: Vec, xt: Vec, out: Vec): Vec {
  if (x0.length !== xt.length || out.length !== x0.length)
    throw new RangeError('posteriorMean: x0, xt and out differ in length');
  const a = c.coefX0;
  const b = c.coefXt;
  for (let i = 0; i < out.length; i++) out[i] = a * x0[i] + b * xt[i];
  return out;
}
