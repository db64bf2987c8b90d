/**
 * The ONE place where a model's output becomes a denoiser. Samplers see only D(x; sigma) in sigma space; whether the
 * network predicts eps, x0 or v (Salimans & Ho 2022), and whether it learned its variance (improved DDPM), is
 * resolved here.
 *
 * VP notation: x_t = alpha x0 + sigmaVp eps with alpha = sqrt(abar), sigmaVp = sqrt(1 - abar).
 * Sigma space: x = x_t / alpha = x0 + sigma eps with sigma = sigmaVp / alpha, abar = 1 / (1 + sigma^2).
 * Coefficients are float64 whatever the batch type.
 */
import { alphaBarFromSigma, type DiscreteSchedule } from './schedules.ts';
import { sigmaToT } from './spacing.ts';
import type { Denoiser, DenoiserOutput, Vec } from './types.ts';

export type Prediction = 'eps' | 'x0' | 'v';

export const PREDICTIONS: readonly Prediction[] = ['eps', 'x0', 'v'];

function checkAlphaBar(alphaBar: number): void {
  if (!(alphaBar > 0 && alphaBar <= 1)) throw new RangeError(`alpha-bar must be in (0, 1], got ${alphaBar}`);
}

function checkLengths(...arrays: Vec[]): void {
  for (const a of arrays) if (a.length !== arrays[0].length) throw new RangeError('arrays differ in length');
}

/**
 * x0 from a VP model's output at x_t, elementwise into x0Out (which may alias out or xt):
 * eps: x0 = (x_t - sigmaVp eps) / alpha; x0: x0; v: x0 = alpha x_t - sigmaVp v. Returns x0Out.
 */
export function predictionToX0(prediction: Prediction, out: Vec, xt: Vec, alphaBar: number, x0Out: Vec): Vec {
  checkAlphaBar(alphaBar);
  checkLengths(out, xt, x0Out);
  const a = Math.sqrt(alphaBar);
  const s = Math.sqrt(1 - alphaBar);
  switch (prediction) {
    case 'eps':
      for (let i = 0; i < out.length; i++) x0Out[i] = (xt[i] - s * out[i]) / a;
      break;
    case 'x0':
      if (x0Out !== out) x0Out.set(out);
      break;
    case 'v':
      for (let i = 0; i < out.length; i++) x0Out[i] = a * xt[i] - s * out[i];
      break;
    default:
      throw unknownPrediction(prediction);
  }
  return x0Out;
}

/**
 * The inverse: what a VP model with this prediction type should output at x_t, given the clean x0 (elementwise into
 * out): eps = (x_t - alpha x0) / sigmaVp; x0; v = alpha eps - sigmaVp x0 = (alpha x_t - x0) / sigmaVp.
 * Needs abar < 1 for eps and v. Returns out.
 */
export function x0ToPrediction(prediction: Prediction, x0: Vec, xt: Vec, alphaBar: number, out: Vec): Vec {
  checkAlphaBar(alphaBar);
  checkLengths(x0, xt, out);
  const a = Math.sqrt(alphaBar);
  const s = Math.sqrt(1 - alphaBar);
  switch (prediction) {
    case 'eps':
      for (let i = 0; i < out.length; i++) out[i] = (xt[i] - a * x0[i]) / s;
      break;
    case 'x0':
      if (out !== x0) out.set(x0);
      break;
    case 'v':
      for (let i = 0; i < out.length; i++) out[i] = (a * xt[i] - x0[i]) / s;
      break;
    default:
      throw unknownPrediction(prediction);
  }
  return out;
}

/**
 * Training target of a prediction type for x_t = alpha x0 + sigmaVp eps, elementwise into out:
 * eps: eps; x0: x0; v: alpha eps - sigmaVp x0 (Salimans & Ho). Returns out.
 */
export function trainingTarget(prediction: Prediction, x0: Vec, eps: Vec, alphaBar: number, out: Vec): Vec {
  checkAlphaBar(alphaBar);
  checkLengths(x0, eps, out);
  switch (prediction) {
    case 'eps':
      if (out !== eps) out.set(eps);
      break;
    case 'x0':
      if (out !== x0) out.set(x0);
      break;
    case 'v': {
      const a = Math.sqrt(alphaBar);
      const s = Math.sqrt(1 - alphaBar);
      for (let i = 0; i < out.length; i++) out[i] = a * eps[i] - s * x0[i];
      break;
    }
    default:
      throw unknownPrediction(prediction);
  }
  return out;
}

function unknownPrediction(p: string): Error {
  return new RangeError(`unknown prediction type "${p}"; expected one of ${PREDICTIONS.join(', ')}`);
}

/** A discrete-time VP model: a neural net, or an analytic stand-in (analytic.ts). */
export interface VpModel {
  /** Values per sample of the input. */
  readonly dim: number;
  /** 2 when the model also outputs the learned-range variance v (improved DDPM). */
  readonly outputChannelsFactor: 1 | 2;
  /**
   * xt: batch of VP inputs (batch * dim values); t: timestep in [0, T-1], possibly fractional. Returns batch * dim *
   * outputChannelsFactor values; with factor 2, sample j's slice is [prediction (dim), v (dim) in [-1, 1]].
   */
  predict(xt: Vec, t: number): Vec | Promise<Vec>;
}

export interface VpDenoiserOptions {
  /** Return varFrac from the model's second half. Default: whether the model outputs it (outputChannelsFactor 2). */
  learnedVariance?: boolean;
  /** Clamp x0 to [-clipX0, clipX0] (e.g. 1 for images in [-1, 1]). Default: no clamp. */
  clipX0?: number;
}

type VecConstructor = Float32ArrayConstructor | Float64ArrayConstructor;

function isPromise<T>(v: T | Promise<T>): v is Promise<T> {
  return typeof (v as { then?: unknown } | null)?.then === 'function';
}

/**
 * A sigma-space denoiser from a discrete VP model. For input x at sigma: abar = 1 / (1 + sigma^2),
 * x_vp = x sqrt(abar), t = sigmaToT(schedule, sigma) (fractional; clamped to [0, T-1], so outside the schedule's sigma
 * range the model is asked at its nearest trained level), one model call, then x0 in float64:
 * eps: x0 = x - sigma eps; x0: as is; v: x0 = abar x - sigmaVp v (the VP formulas rewritten in the sigma-space x,
 * which avoids dividing by a tiny alpha at high noise). With learned variance, varFrac = (v + 1) / 2.
 * Returns fresh arrays of the input's type; synchronous when the model is.
 */
export function vpDenoiser(
  model: VpModel,
  schedule: DiscreteSchedule,
  prediction: Prediction,
  options: VpDenoiserOptions = {},
): Denoiser {
  if (!PREDICTIONS.includes(prediction)) throw unknownPrediction(prediction);
  const factor = model.outputChannelsFactor;
  const learnedVariance = options.learnedVariance ?? factor === 2;
  if (learnedVariance && factor !== 2) {
    throw new RangeError('learnedVariance needs a model with outputChannelsFactor 2 (prediction and variance halves)');
  }
  const clip = options.clipX0;
  if (clip !== undefined && !(clip > 0)) throw new RangeError(`clipX0 must be positive, got ${clip}`);
  const dim = model.dim;

  return {
    dim,
    denoise(x: Vec, sigma: number): DenoiserOutput | Promise<DenoiserOutput> {
      if (!(sigma > 0 && Number.isFinite(sigma)))
        throw new RangeError(`denoiser needs a finite sigma > 0, got ${sigma}`);
      if (x.length % dim !== 0) throw new RangeError(`batch of ${x.length} values is not a multiple of dim ${dim}`);
      const abar = alphaBarFromSigma(sigma);
      const alpha = Math.sqrt(abar);
      const sigmaVp = sigma * alpha; // = sqrt(1 - abar) without the cancellation at small sigma
      const Ctor = x.constructor as VecConstructor;
      const xVp = new Ctor(x.length);
      for (let i = 0; i < x.length; i++) xVp[i] = x[i] * alpha;
      const finish = (out: Vec): DenoiserOutput => {
        const n = x.length / dim;
        if (out.length !== x.length * factor) {
          throw new RangeError(`model returned ${out.length} values, expected ${n} x ${dim} x ${factor}`);
        }
        const x0 = new Ctor(x.length);
        const varFrac = learnedVariance ? new Ctor(x.length) : undefined;
        const stride = dim * factor;
        for (let j = 0; j < n; j++) {
          const o = j * dim;
          const m = j * stride;
          for (let d = 0; d < dim; d++) {
            const p = out[m + d];
            let v =
              prediction === 'eps' ? x[o + d] - sigma * p : prediction === 'x0' ? p : abar * x[o + d] - sigmaVp * p;
            if (clip !== undefined) v = v < -clip ? -clip : v > clip ? clip : v;
            x0[o + d] = v;
          }
          if (varFrac) for (let d = 0; d < dim; d++) varFrac[o + d] = (out[m + dim + d] + 1) / 2;
        }
        return varFrac ? { x0, varFrac } : { x0 };
      };
      const r = model.predict(xVp, sigmaToT(schedule, sigma));
      return isPromise(r) ? r.then(finish) : finish(r);
    },
  };
}
