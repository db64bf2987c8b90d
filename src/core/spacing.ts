/**
 * Which noise levels a sampler visits: timestep subsets of a discrete schedule (diffusers' timestep_spacing) and
 * sigma grids (Karras et al. 2022), plus the continuous map between sigma and fractional timestep that lets a
 * discrete-time model be queried at any sigma (k-diffusion's DiscreteSchedule).
 */
import { linspace, type DiscreteSchedule } from './schedules.ts';

export type Spacing = 'linspace' | 'leading' | 'trailing';

export const SPACINGS: readonly Spacing[] = ['linspace', 'leading', 'trailing'];

/** numpy.round: half to even (Math.round rounds half up, which changes e.g. linspace(0, 9, 3) = [0, 4.5, 9]). */
export function roundHalfEven(x: number): number {
  const r = Math.round(x);
  return r - x === 0.5 && r % 2 !== 0 ? r - 1 : r;
}

/**
 * DESCENDING integer timesteps in [0, T-1], exactly as diffusers' schedulers define them:
 * - linspace: round(linspace(0, T-1, steps)), reversed. Both ends included: [999, 888, ..., 0] for T=1000, steps=10.
 * - leading: arange(steps) * floor(T / steps) + stepsOffset, reversed: [900, 800, ..., 0] (Stable Diffusion uses
 *   stepsOffset = 1).
 * - trailing: round(arange(T, 0, -T / steps)) - 1: [999, 899, ..., 99]. numpy's float arange sometimes returns one
 *   extra element (T - steps * T/steps ~ 1e-13, giving timestep -1) from rounding; we always take exactly `steps`
 *   values, computed as numpy's arange computes them.
 * Throws RangeError unless T >= 2 and 1 <= steps <= T are integers, or if timesteps repeat or leave [0, T-1].
 */
export function timestepSpacing(T: number, steps: number, spacing: Spacing, stepsOffset = 0): number[] {
  if (!Number.isInteger(T) || T < 2) throw new RangeError(`T must be an integer >= 2, got ${T}`);
  if (!Number.isInteger(steps) || steps < 1 || steps > T) {
    throw new RangeError(`number of sampling steps must be an integer in [1, T = ${T}], got ${steps}`);
  }
  if (!Number.isInteger(stepsOffset) || stepsOffset < 0) {
    throw new RangeError(`stepsOffset must be a non-negative integer, got ${stepsOffset}`);
  }
  let ts: number[];
  switch (spacing) {
    case 'linspace':
      ts = Array.from(linspace(0, T - 1, steps), roundHalfEven).reverse();
      break;
    case 'leading': {
      const ratio = Math.floor(T / steps);
      ts = Array.from({ length: steps }, (_, i) => (steps - 1 - i) * ratio + stepsOffset);
      break;
    }
    case 'trailing': {
      // numpy's arange(start, stop, step) stores start and start + step, then fills start + i * (buffer[1] - start).
      const delta = T + -T / steps - T;
      ts = Array.from({ length: steps }, (_, i) => roundHalfEven(i === 0 ? T : T + i * delta) - 1);
      break;
    }
    default:
      throw new RangeError(`unknown timestep spacing "${spacing as string}"; expected one of ${SPACINGS.join(', ')}`);
  }
  for (let i = 0; i < ts.length; i++) {
    if (ts[i] < 0 || ts[i] > T - 1) {
      throw new RangeError(
        `${spacing} spacing (T=${T}, steps=${steps}, offset=${stepsOffset}) gives timestep ${ts[i]} outside [0, ${T - 1}]`,
      );
    }
    if (i > 0 && ts[i] >= ts[i - 1]) {
      throw new RangeError(
        `${spacing} spacing (T=${T}, steps=${steps}) gives duplicate or unordered timestep ${ts[i]}`,
      );
    }
  }
  return ts;
}

/** schedule.sigmas at the given (strictly descending, integer) timesteps, then a final 0: length steps + 1. */
export function discreteSigmas(schedule: DiscreteSchedule, timesteps: readonly number[]): Float64Array {
  const out = new Float64Array(timesteps.length + 1);
  timesteps.forEach((t, i) => {
    if (!Number.isInteger(t) || t < 0 || t >= schedule.T) {
      throw new RangeError(`timestep ${t} is not an integer in [0, ${schedule.T - 1}]`);
    }
    if (i > 0 && t >= timesteps[i - 1]) throw new RangeError(`timesteps must be strictly descending (at index ${i})`);
    out[i] = schedule.sigmas[t];
  });
  return out;
}

/**
 * Karras et al. 2022 (EDM) eq. 5: sigma_i = (sigmaMax^(1/rho) + i/(steps-1) (sigmaMin^(1/rho) - sigmaMax^(1/rho)))^rho,
 * i = 0 .. steps-1, then a final 0 (length steps + 1). The two ends are set to exactly sigmaMax and sigmaMin (the
 * power round trip would otherwise be off by an ulp, and a discrete model's range should map to exactly 0 and T-1).
 * steps = 1 gives [sigmaMax, 0]. Larger rho concentrates steps at low noise; rho = 1 is uniform in sigma.
 */
export function karrasSigmas(steps: number, sigmaMin: number, sigmaMax: number, rho = 7): Float64Array {
  if (!Number.isInteger(steps) || steps < 1) throw new RangeError(`steps must be an integer >= 1, got ${steps}`);
  if (!(sigmaMin > 0 && sigmaMin < sigmaMax && Number.isFinite(sigmaMax))) {
    throw new RangeError(
      `Karras sigmas need 0 < sigmaMin < sigmaMax < Infinity, got sigmaMin=${sigmaMin}, sigmaMax=${sigmaMax}`,
    );
  }
  if (!(rho > 0 && Number.isFinite(rho))) throw new RangeError(`rho must be a positive number, got ${rho}`);
  const out = new Float64Array(steps + 1);
  const maxInv = sigmaMax ** (1 / rho);
  const minInv = sigmaMin ** (1 / rho);
  for (let i = 0; i < steps; i++) {
    const ramp = steps === 1 ? 0 : i / (steps - 1);
    out[i] = (maxInv + ramp * (minInv - maxInv)) ** rho;
  }
  out[0] = sigmaMax;
  if (steps > 1) out[steps - 1] = sigmaMin;
  return out;
}

/** log(schedule.sigmas), cached per schedule object: sigmaToT runs once per model call. */
const logSigmaCache = new WeakMap<DiscreteSchedule, Float64Array>();

function logSigmas(schedule: DiscreteSchedule): Float64Array {
  let ls = logSigmaCache.get(schedule);
  if (!ls || ls.length !== schedule.sigmas.length) {
    ls = schedule.sigmas.map(Math.log);
    logSigmaCache.set(schedule, ls);
  }
  return ls;
}

/**
 * Fractional timestep of a noise level: linear interpolation of log sigma between neighbouring timesteps, as
 * k-diffusion's DiscreteSchedule.sigma_to_t, clamped to [0, T-1] (a sigma outside the schedule's range maps to the
 * nearest end, so a discrete model queried there sees its own extreme timestep). sigma = schedule.sigmas[t] gives
 * exactly t.
 */
export function sigmaToT(schedule: DiscreteSchedule, sigma: number): number {
  if (!(sigma > 0)) throw new RangeError(`sigmaToT needs sigma > 0, got ${sigma}`);
  const ls = logSigmas(schedule);
  const n = ls.length;
  const x = Math.log(sigma);
  if (x <= ls[0]) return 0;
  if (x >= ls[n - 1]) return n - 1;
  // Largest low with ls[low] <= x (ls is strictly increasing), by bisection.
  let low = 0;
  let high = n - 1;
  while (high - low > 1) {
    const mid = (low + high) >> 1;
    if (ls[mid] <= x) low = mid;
    else high = mid;
  }
  // k-diffusion writes (1 - w) * low + w * high; low + w is the same number with less rounding.
  return low + (ls[low] - x) / (ls[low] - ls[high]);
}

/**
 * Noise level of a fractional timestep: exp of log sigma interpolated linearly between floor(t) and ceil(t), the
 * exact inverse of sigmaToT on [0, T-1] (integer t gives exactly schedule.sigmas[t]). Throws outside [0, T-1].
 */
export function tToSigma(schedule: DiscreteSchedule, t: number): number {
  const n = schedule.sigmas.length;
  if (!(t >= 0 && t <= n - 1)) throw new RangeError(`timestep ${t} is outside [0, ${n - 1}]`);
  const low = Math.floor(t);
  const w = t - low;
  if (w === 0) return schedule.sigmas[low];
  const ls = logSigmas(schedule);
  return Math.exp((1 - w) * ls[low] + w * ls[low + 1]);
}

/** The noise range a discrete model was trained on: the Karras range for sampling it. */
export function scheduleSigmaRange(schedule: DiscreteSchedule): { sigmaMin: number; sigmaMax: number } {
  return { sigmaMin: schedule.sigmas[0], sigmaMax: schedule.sigmas[schedule.T - 1] };
}
