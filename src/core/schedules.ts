/**
 * Discrete noise schedules (beta_t for t = 0 .. T-1), always float64.
 *
 * Named schedules are frozen: runs and checkpoints depend on them, so a change to a formula is a new name, never an
 * edit (the improved-diffusion rule). The formulas follow their reference implementations operation for operation
 * (numpy's linspace, improved-diffusion's betas_for_alpha_bar), so a model trained with PyTorch on the same named
 * schedule sees the same coefficients to the last bit where the reference is float64 too.
 */

export type ScheduleName = 'linear' | 'cosine' | 'scaled-linear' | 'sigmoid';

export const SCHEDULE_NAMES: readonly ScheduleName[] = ['linear', 'cosine', 'scaled-linear', 'sigmoid'];

/**
 * numpy.linspace(start, stop, n) as numpy computes it: start + i * ((stop - start) / (n - 1)), last value exactly
 * stop. Matching numpy bit for bit matters where a caller rounds the values (timestep spacing) or compares schedules.
 */
export function linspace(start: number, stop: number, n: number): Float64Array {
  const out = new Float64Array(n);
  if (n === 1) {
    out[0] = start;
    return out;
  }
  const step = (stop - start) / (n - 1);
  for (let i = 0; i < n; i++) out[i] = i * step + start;
  out[n - 1] = stop;
  return out;
}

function checkT(T: number): void {
  if (!Number.isInteger(T) || T < 2) {
    throw new RangeError(`number of diffusion timesteps T must be an integer >= 2, got ${T}`);
  }
}

/** improved-diffusion's cosine alpha-bar, unnormalized: the ratio alpha_bar(t2) / alpha_bar(t1) cancels f(0). */
function cosineAlphaBar(t: number): number {
  const c = Math.cos((((t + 0.008) / 1.008) * Math.PI) / 2);
  return c * c;
}

/**
 * beta_t, t = 0 .. T-1.
 * - linear: DDPM, rescaled by improved DDPM so any T spans the same curve: linspace(1e-4 * 1000/T, 0.02 * 1000/T, T).
 * - cosine: improved DDPM (Nichol & Dhariwal 2021), s = 0.008, beta = min(1 - abar(t+1)/abar(t), 0.999).
 * - scaled-linear: Stable Diffusion, linspace(sqrt(0.00085), sqrt(0.012), T)^2 (diffusers evaluates this in float32;
 *   we keep float64, a difference of ~1e-7 relative).
 * - sigmoid: GeoDiff, sigmoid(linspace(-6, 6, T)) * (0.02 - 1e-4) + 1e-4.
 * Throws RangeError if T is not an integer >= 2 or a beta falls outside (0, 1) (linear with T <= 20).
 */
export function betaSchedule(name: ScheduleName, T: number): Float64Array {
  checkT(T);
  let betas: Float64Array;
  switch (name) {
    case 'linear': {
      const scale = 1000 / T;
      betas = linspace(scale * 0.0001, scale * 0.02, T);
      break;
    }
    case 'cosine': {
      betas = new Float64Array(T);
      for (let i = 0; i < T; i++) {
        betas[i] = Math.min(1 - cosineAlphaBar((i + 1) / T) / cosineAlphaBar(i / T), 0.999);
      }
      break;
    }
    case 'scaled-linear': {
      betas = linspace(Math.sqrt(0.00085), Math.sqrt(0.012), T);
      for (let i = 0; i < T; i++) betas[i] = betas[i] * betas[i];
      break;
    }
    case 'sigmoid': {
      betas = linspace(-6, 6, T);
      for (let i = 0; i < T; i++) betas[i] = (1 / (Math.exp(-betas[i]) + 1)) * (0.02 - 0.0001) + 0.0001;
      break;
    }
    default:
      throw new RangeError(`unknown schedule "${name as string}"; expected one of ${SCHEDULE_NAMES.join(', ')}`);
  }
  for (let i = 0; i < T; i++) {
    if (!(betas[i] > 0 && betas[i] < 1)) {
      throw new RangeError(`${name} schedule with T = ${T} gives beta[${i}] = ${betas[i]}, outside (0, 1)`);
    }
  }
  return betas;
}

export interface DiscreteSchedule {
  name: ScheduleName;
  T: number;
  betas: Float64Array;
  /** abar_t = prod_{i <= t} (1 - beta_i), strictly decreasing. */
  alphasCumprod: Float64Array;
  /** sqrt((1 - abar) / abar): the sigma-space noise level of each timestep, strictly increasing. */
  sigmas: Float64Array;
  /** log(abar / (1 - abar)) = -2 log sigma, strictly decreasing. */
  logSnr: Float64Array;
}

/**
 * sigma = sqrt((1 - abar) / abar): VP timestep -> sigma space (x_sigma = x_vp / sqrt(abar)). 1 - abar cancels for abar
 * near 1 (relative error ~1e-16 / sigma^2), so code that has a sigma should keep it rather than go through abar.
 */
export function sigmaFromAlphaBar(alphaBar: number): number {
  return Math.sqrt((1 - alphaBar) / alphaBar);
}

/** abar = 1 / (1 + sigma^2), the inverse of sigmaFromAlphaBar. */
export function alphaBarFromSigma(sigma: number): number {
  return 1 / (1 + sigma * sigma);
}

export function makeSchedule(name: ScheduleName, T = 1000): DiscreteSchedule {
  const betas = betaSchedule(name, T);
  const alphasCumprod = new Float64Array(T);
  const sigmas = new Float64Array(T);
  const logSnr = new Float64Array(T);
  let abar = 1;
  for (let t = 0; t < T; t++) {
    // Cumulative product as np.cumprod does it (left to right), so the values match improved-diffusion's.
    abar *= 1 - betas[t];
    alphasCumprod[t] = abar;
    sigmas[t] = sigmaFromAlphaBar(abar);
    logSnr[t] = Math.log(abar / (1 - abar));
  }
  if (!(alphasCumprod[T - 1] > 0)) {
    throw new RangeError(`${name} schedule with T = ${T} underflows: alpha-bar reaches 0`);
  }
  return { name, T, betas, alphasCumprod, sigmas, logSnr };
}
