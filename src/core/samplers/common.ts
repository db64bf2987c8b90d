/**
 * What every sampler shares: argument and option validation, the step loop (model call, NFE count, onStep, abort)
 * and EDM's "churn" perturbation used by Euler and Heun.
 *
 * A sampler is then only its update rule: `runSteps` evaluates D(x; sigma_i), reports it through onStep, and hands
 * the step to the sampler's `update`, which returns x at sigma_{i+1}. Samplers that need more model calls per step
 * (Heun) or fresh noise call `run.denoise` / `run.normal` themselves, so NFE and noise use are counted in one place.
 */
import type { Denoiser, DenoiserOutput, SampleArgs, SampleResult, Vec } from '../types.ts';

export type VecConstructor = Float32ArrayConstructor | Float64ArrayConstructor;

/** A new zeroed batch of the same array type as x (samplers must preserve the caller's type). */
export function like(x: Vec, n = x.length): Vec {
  return new (x.constructor as VecConstructor)(n);
}

export function abortError(): Error {
  const err = new Error('sampling was aborted');
  err.name = 'AbortError';
  return err;
}

/** Sigmas must be finite, >= 0, strictly decreasing, with at least one step. */
export function validateSigmas(sigmas: Float64Array): void {
  if (!sigmas || typeof sigmas.length !== 'number' || sigmas.length < 2) {
    throw new RangeError(`sigmas must hold at least 2 values (steps + 1), got ${sigmas?.length ?? 'none'}`);
  }
  for (let i = 0; i < sigmas.length; i++) {
    const s = sigmas[i];
    if (!Number.isFinite(s) || s < 0) throw new RangeError(`sigmas[${i}] must be finite and >= 0, got ${s}`);
    if (i > 0 && !(s < sigmas[i - 1])) {
      throw new RangeError(
        `sigmas must be strictly decreasing: sigmas[${i}] = ${s} >= sigmas[${i - 1}] = ${sigmas[i - 1]}`,
      );
    }
  }
}

export function validateArgs(args: SampleArgs, name: string, needsNoise: boolean): void {
  const { denoiser, x, sigmas } = args;
  if (!denoiser || typeof denoiser.denoise !== 'function') throw new TypeError(`${name}: a denoiser is required`);
  if (!Number.isInteger(denoiser.dim) || denoiser.dim <= 0) {
    throw new RangeError(`${name}: denoiser.dim must be a positive integer, got ${denoiser.dim}`);
  }
  if (!(x instanceof Float32Array || x instanceof Float64Array)) {
    throw new TypeError(`${name}: x must be a Float32Array or Float64Array`);
  }
  if (x.length % denoiser.dim !== 0) {
    throw new RangeError(`${name}: x has ${x.length} values, not a multiple of denoiser.dim = ${denoiser.dim}`);
  }
  validateSigmas(sigmas);
  if (needsNoise && (!args.noise || typeof args.noise.normal !== 'function')) {
    throw new TypeError(
      `${name} is stochastic with these options and needs a noise source (args.noise, e.g. new BatchNoise(seed, ` +
        `firstSample, batch, dim)); pass one or choose a deterministic sampler`,
    );
  }
}

/**
 * Merge options over defaults. Unknown keys are rejected so that a misspelt option fails loudly instead of being
 * silently ignored. Options keep k-diffusion's names (s_churn, s_noise, solver_type) where the sampler comes from
 * k-diffusion. `optional` lists keys without a default.
 */
export function resolveOptions<O extends object>(
  name: string,
  defaults: O,
  options: Partial<O> | undefined,
  optional: readonly string[] = [],
): O {
  const out = { ...defaults } as Record<string, unknown>;
  if (options == null) return out as O;
  if (typeof options !== 'object') throw new TypeError(`${name}: options must be an object`);
  for (const [key, value] of Object.entries(options)) {
    if (!(key in defaults) && !optional.includes(key)) {
      const known = [...Object.keys(defaults), ...optional].join(', ') || '(none)';
      throw new RangeError(`${name}: unknown option "${key}"; options are: ${known}`);
    }
    if (value === undefined) continue;
    const def = (defaults as Record<string, unknown>)[key];
    if (def !== undefined && typeof value !== typeof def) {
      throw new TypeError(`${name}: option "${key}" must be a ${typeof def}, got ${typeof value}`);
    }
    out[key] = value;
  }
  return out as O;
}

export function checkRange(name: string, key: string, v: number, lo: number, hi = Infinity): void {
  if (!(v >= lo && v <= hi) || Number.isNaN(v)) {
    throw new RangeError(`${name}: option "${key}" must be in [${lo}, ${hi}], got ${v}`);
  }
}

/** One step as seen by a sampler's update rule. */
export interface Step {
  i: number;
  steps: number;
  /** Noise level of x (sigma_hat when churn raised it) and the level to move to. */
  sigma: number;
  sigmaNext: number;
  x: Vec;
  /** D(x; sigma) and eps = (x - x0) / sigma, which is also k-diffusion's ODE derivative d = to_d(x, sigma, x0). */
  x0: Vec;
  eps: Vec;
  out: DenoiserOutput;
}

/** Per-run services: counted model calls, fresh noise, abort checks. */
export class SamplerRun {
  nfe = 0;
  readonly denoiser: Denoiser;
  readonly sigmas: Float64Array;
  readonly steps: number;

  constructor(
    readonly args: SampleArgs,
    readonly name: string,
  ) {
    this.denoiser = args.denoiser;
    this.sigmas = args.sigmas;
    this.steps = args.sigmas.length - 1;
  }

  checkAbort(): void {
    if (this.args.signal?.aborted) throw abortError();
  }

  async denoise(x: Vec, sigma: number): Promise<DenoiserOutput> {
    this.nfe++;
    const out = await this.denoiser.denoise(x, sigma);
    if (!out || !out.x0 || out.x0.length !== x.length) {
      throw new RangeError(
        `${this.name}: denoiser returned ${out?.x0?.length ?? 'no'} values for a batch of ${x.length}`,
      );
    }
    return out;
  }

  /** Fresh N(0, 1) noise for the whole batch, kept in float64 (each sample from its own stream). */
  normal(n: number): Float64Array {
    const z = new Float64Array(n);
    this.args.noise!.normal(z);
    return z;
  }
}

export interface LoopSpec {
  name: string;
  needsNoise: boolean;
  /** Optional change of x and its noise level before the model call (EDM churn). */
  perturb?: (i: number, x: Vec, run: SamplerRun) => { x: Vec; sigma: number };
}

/**
 * The shared step loop. For each step: check abort, optionally perturb, call the model, report onStep (before the
 * update, as k-diffusion's callback), check abort again (the callback may have aborted), then apply `update`.
 */
export async function runSteps(
  args: SampleArgs,
  spec: LoopSpec,
  update: (step: Step, run: SamplerRun) => Vec | Promise<Vec>,
): Promise<SampleResult> {
  validateArgs(args, spec.name, spec.needsNoise);
  const run = new SamplerRun(args, spec.name);
  const { sigmas, steps } = run;
  // Work on a copy: the caller's x is never written and never aliased by what onStep or the result expose.
  let x: Vec = like(args.x);
  x.set(args.x);
  for (let i = 0; i < steps; i++) {
    run.checkAbort();
    let sigma = sigmas[i];
    if (spec.perturb) ({ x, sigma } = spec.perturb(i, x, run));
    const out = await run.denoise(x, sigma);
    const x0 = out.x0;
    const eps = like(x);
    for (let k = 0; k < x.length; k++) eps[k] = (x[k] - x0[k]) / sigma;
    const sigmaNext = sigmas[i + 1];
    if (args.onStep) {
      await args.onStep({ i, steps, sigma, sigmaNext, x, x0Pred: x0, epsPred: eps, nfe: run.nfe });
      run.checkAbort();
    }
    x = await update({ i, steps, sigma, sigmaNext, x, x0, eps, out }, run);
  }
  return { x, nfe: run.nfe };
}

/** EDM (Karras et al. 2022, Algorithm 2) stochastic churn, as in k-diffusion's sample_euler / sample_heun. */
export interface ChurnOptions {
  s_churn: number;
  s_tmin: number;
  s_tmax: number;
  s_noise: number;
}

export function checkChurn(name: string, o: ChurnOptions): void {
  checkRange(name, 's_churn', o.s_churn, 0);
  checkRange(name, 's_tmin', o.s_tmin, 0);
  if (!(o.s_tmax >= o.s_tmin)) throw new RangeError(`${name}: option "s_tmax" must be >= s_tmin, got ${o.s_tmax}`);
  checkRange(name, 's_noise', o.s_noise, 0);
}

/**
 * gamma = min(s_churn / steps, sqrt(2) - 1) for sigma in [s_tmin, s_tmax]; x gains noise up to sigma_hat =
 * sigma * (1 + gamma). Unlike k-diffusion (which draws eps every step), noise is drawn only when gamma > 0, so a
 * run without churn never touches the noise source and stays deterministic.
 */
export function churnPerturb(o: ChurnOptions): LoopSpec['perturb'] {
  if (!(o.s_churn > 0)) return undefined;
  return (i, x, run) => {
    const sigma = run.sigmas[i];
    const gamma = o.s_tmin <= sigma && sigma <= o.s_tmax ? Math.min(o.s_churn / run.steps, Math.SQRT2 - 1) : 0;
    if (!(gamma > 0)) return { x, sigma };
    const sigmaHat = sigma * (gamma + 1);
    const z = run.normal(x.length);
    const scale = Math.sqrt(sigmaHat * sigmaHat - sigma * sigma) * o.s_noise;
    const xHat = like(x);
    for (let k = 0; k < x.length; k++) xHat[k] = x[k] + z[k] * scale;
    return { x: xHat, sigma: sigmaHat };
  };
}
