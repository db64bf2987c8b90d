/**
 * Sampling a VP network in chunks: the loop that `sample --run` and the model sample worker share. Each chunk of
 * samples starts from its own per-sample noise streams (initialNoise / BatchNoise keyed by seed and sample index),
 * so the samples do not depend on the chunk size. Conditional models get classifier-free guidance, which puts the
 * conditional and unconditional halves in one model call (so a call sees up to 2 x chunk samples).
 */
import { classifierFreeGuidance, type LabeledDenoiser } from './guidance.ts';
import type { NoiseGrid } from './noise-grid.ts';
import { vpDenoiser, type Prediction, type VpModel } from './parameterization.ts';
import { BatchNoise, initialNoise, StreamPurpose } from './rng.ts';
import type { SamplerEntry } from './samplers/index.ts';
import type { Denoiser, StepInfo } from './types.ts';

export interface BatchedSamplingArgs {
  /** The network with one label per sample bound (none for unconditional models). */
  vp: (labels?: Int32Array) => VpModel;
  /** A vp grid (it carries the model's discrete schedule). */
  grid: NoiseGrid;
  prediction: Prediction;
  /** Clamp x0 predictions (1 for images in [-1, 1]). */
  clipX0?: number;
  sampler: SamplerEntry;
  options: Record<string, unknown>;
  n: number;
  /** Samples per chunk. */
  chunk: number;
  seed: number;
  /** One class per sample (conditional models only). */
  labels?: Int32Array;
  /** Classifier-free guidance scale; 1 = plain conditional. */
  guidance?: number;
  signal?: AbortSignal;
  /** Every step of every chunk; `first` is the chunk's first sample index. */
  onStep?: (first: number, count: number, info: StepInfo) => void | Promise<void>;
}

export interface BatchedSamplingResult {
  /** n x dim values, sample-major. */
  samples: Float32Array;
  /** Model evaluations per sample. */
  nfe: number;
}

export async function sampleInChunks(args: BatchedSamplingArgs): Promise<BatchedSamplingResult> {
  const { grid, prediction, clipX0, n, seed, labels } = args;
  if (!(args.chunk >= 1)) throw new RangeError(`chunk must be >= 1, got ${args.chunk}`);
  const schedule = grid.schedule;
  if (!schedule) throw new RangeError('sampleInChunks needs a vp noise grid');
  const dim = args.vp().dim;
  const samples = new Float32Array(n * dim);
  const labeled: LabeledDenoiser = {
    dim,
    denoise: (x, sigma, l) => vpDenoiser(args.vp(l), schedule, prediction, { clipX0 }).denoise(x, sigma),
  };
  let nfe = 0;
  for (let first = 0; first < n; first += args.chunk) {
    const count = Math.min(args.chunk, n - first);
    const denoiser: Denoiser = labels
      ? classifierFreeGuidance(labeled, labels.subarray(first, first + count), args.guidance ?? 1)
      : vpDenoiser(args.vp(), schedule, prediction, { clipX0 });
    const x = initialNoise(seed, first, count, dim, Float32Array);
    for (let i = 0; i < x.length; i++) x[i] *= grid.initScale;
    const onStep = args.onStep;
    const result = await args.sampler.run(
      {
        denoiser,
        sigmas: grid.sigmas,
        x,
        noise: new BatchNoise(seed, first, count, dim, StreamPurpose.sampler),
        ...(args.signal ? { signal: args.signal } : {}),
        ...(onStep ? { onStep: (info: StepInfo) => onStep(first, count, info) } : {}),
      },
      args.options,
    );
    samples.set(result.x, first * dim);
    nfe = result.nfe;
  }
  return { samples, nfe };
}
