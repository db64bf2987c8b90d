/**
 * Shared types of the diffusion core. Everything here is engine-independent: plain data over typed arrays.
 *
 * Conventions (k-diffusion / EDM "sigma space"):
 * - A batch is one flat typed array of `batch * dim` values, sample-major.
 * - Samplers work in sigma space, x = x0 + sigma * eps. A variance-preserving (VP) model sees
 *   x_vp = x / sqrt(1 + sigma^2) with alpha-bar = 1 / (1 + sigma^2); the wrappers in parameterization.ts do that
 *   conversion once, so no sampler knows which formulation or prediction type the model was trained with.
 * - Coefficients are float64 (JS numbers); batches are Float32Array in production and Float64Array where a test
 *   wants to see discretization error without float32 rounding. Every sampler preserves the array type it was given.
 */

export type Vec = Float32Array | Float64Array;

/** What a denoiser returns for a batch at one noise level. */
export interface DenoiserOutput {
  /** D(x; sigma), the estimate of E[x0 | x]. Same length and type as the input batch. */
  x0: Vec;
  /**
   * Learned-range variance (improved DDPM), as the interpolation fraction in [0, 1] per element:
   * log var = frac * log(beta_t) + (1 - frac) * log(beta-tilde_t). Only models trained with learned variance
   * provide it; only the DDPM ancestral sampler uses it.
   */
  varFrac?: Vec;
}

/** A denoiser in sigma space. Conditioning (class labels, guidance) is bound inside it. */
export interface Denoiser {
  /** Values per sample (C*H*W for images, D for vectors). */
  readonly dim: number;
  /** x: batch in sigma space at noise level sigma (> 0). Must not modify x. Returns fresh arrays. */
  denoise(x: Vec, sigma: number): DenoiserOutput | Promise<DenoiserOutput>;
}

/** Standard-normal noise drawn from per-sample streams (see rng.ts). */
export interface NoiseSource {
  /** Fill `out` (batch * dim values) with N(0, 1): sample j's slice from sample j's own stream. */
  normal(out: Vec): void;
}

/** Reported by every sampler once per step, before the step's update. */
export interface StepInfo {
  /** Step index, 0-based. */
  i: number;
  /** Number of steps (sigmas.length - 1). */
  steps: number;
  /** Noise level of x at this step and the one the step moves to. */
  sigma: number;
  sigmaNext: number;
  /** x at `sigma` (sigma space), the predicted x0 = D(x; sigma) and predicted eps = (x - x0) / sigma. */
  x: Vec;
  x0Pred: Vec;
  epsPred: Vec;
  /** Model evaluations so far, including the one that produced x0Pred. */
  nfe: number;
}

export interface SampleArgs {
  denoiser: Denoiser;
  /** Noise levels, strictly decreasing, length steps + 1; the last is usually 0. */
  sigmas: Float64Array;
  /** Initial batch at sigmas[0] in sigma space (e.g. z * sigmas[0]). Not modified. */
  x: Vec;
  /** Fresh noise for stochastic samplers. Deterministic samplers never call it. */
  noise?: NoiseSource;
  onStep?: (info: StepInfo) => void | Promise<void>;
  signal?: AbortSignal;
}

export interface SampleResult {
  /** The final batch at sigmas[steps], same type as the input. */
  x: Vec;
  /** Model evaluations used. */
  nfe: number;
}

/** A sampler: a free function over a denoiser and a sigma schedule, plus its own options. */
export type Sampler<O = Record<string, never>> = (args: SampleArgs, options?: Partial<O>) => Promise<SampleResult>;
