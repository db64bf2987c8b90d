/**
 * Class conditioning and classifier-free guidance (Ho & Salimans 2022) as denoiser wrappers: the sampler sees a plain
 * Denoiser, the labels and the guidance scale are bound inside.
 */
import type { Denoiser, DenoiserOutput, Vec } from './types.ts';

/** The null class: the unconditional model (trained by dropping labels). */
export const NULL_LABEL = -1;

/** A denoiser conditioned on one class label per sample (NULL_LABEL = unconditional). */
export interface LabeledDenoiser {
  readonly dim: number;
  /** labels.length = number of samples in x. Must not modify x. Returns fresh arrays of x's type. */
  denoise(x: Vec, sigma: number, labels: Int32Array): DenoiserOutput | Promise<DenoiserOutput>;
}

function isPromise<T>(v: T | Promise<T>): v is Promise<T> {
  return typeof (v as { then?: unknown } | null)?.then === 'function';
}

function checkBatch(x: Vec, dim: number, labels: Int32Array): void {
  if (x.length !== labels.length * dim) {
    throw new RangeError(`batch of ${x.length} values does not match ${labels.length} labels x dim ${dim}`);
  }
}

/** Bind one label per sample: a plain Denoiser for batches of exactly labels.length samples. */
export function withLabels(model: LabeledDenoiser, labels: Int32Array): Denoiser {
  const dim = model.dim;
  const bound = Int32Array.from(labels); // a copy: later edits to the caller's array do not change the denoiser
  return {
    dim,
    denoise(x: Vec, sigma: number) {
      checkBatch(x, dim, bound);
      return model.denoise(x, sigma, bound);
    },
  };
}

/**
 * Classifier-free guidance: D = D_uncond + scale * (D_cond - D_uncond).
 * scale = 1 is the plain conditional model and skips the unconditional half; scale = 0 is the unconditional model;
 * scale > 1 extrapolates past the conditional. This is Ho & Salimans' (1 + w) eps_cond - w eps_uncond with
 * scale = 1 + w (their w = 0 is our scale = 1), the convention of diffusers' guidance_scale. Guiding D (x0) or eps is
 * the same, since eps = (x - D) / sigma is affine in D.
 * Conditional and unconditional halves run in ONE model call on a doubled batch [x, x] with labels
 * [labels, NULL_LABEL...]. varFrac, when the model gives it, comes from the conditional half.
 */
export function classifierFreeGuidance(model: LabeledDenoiser, labels: Int32Array, scale: number): Denoiser {
  if (!Number.isFinite(scale)) throw new RangeError(`guidance scale must be finite, got ${scale}`);
  if (scale === 1) return withLabels(model, labels);
  const dim = model.dim;
  const n = labels.length;
  const labels2 = new Int32Array(2 * n).fill(NULL_LABEL);
  labels2.set(labels); // a copy, as in withLabels
  return {
    dim,
    denoise(x: Vec, sigma: number): DenoiserOutput | Promise<DenoiserOutput> {
      checkBatch(x, dim, labels);
      const m = x.length;
      const x2 = new (x.constructor as Float32ArrayConstructor | Float64ArrayConstructor)(2 * m);
      x2.set(x);
      x2.set(x, m);
      const finish = (r: DenoiserOutput): DenoiserOutput => {
        if (r.x0.length !== 2 * m)
          throw new RangeError(`model returned ${r.x0.length} values for a doubled batch of ${2 * m}`);
        const x0 = new (x.constructor as Float32ArrayConstructor | Float64ArrayConstructor)(m);
        for (let i = 0; i < m; i++) {
          const u = r.x0[m + i];
          x0[i] = u + scale * (r.x0[i] - u);
        }
        return r.varFrac ? { x0, varFrac: r.varFrac.slice(0, m) } : { x0 };
      };
      const r = model.denoise(x2, sigma, labels2);
      return isPromise(r) ? r.then(finish) : finish(r);
    },
  };
}
