/**
 * The random inputs of one training step, drawn from the run's `train` stream in a fixed order: B uniforms for the
 * timesteps, B * dim normals for the noise, B uniforms for label dropout. The stream's block position is the only
 * state, so a checkpoint that stores it makes the continuation identical.
 */
import type { NormalStream } from '../core/rng.ts';
import type { DiscreteSchedule } from '../core/schedules.ts';

export interface StepInputs {
  t: Int32Array;
  eps: Float32Array;
  xt: Float32Array;
  /** Labels after dropout (the null class is numClasses), or null for an unconditional model. */
  labels: Int32Array | null;
}

export function drawStepInputs(
  stream: NormalStream,
  schedule: DiscreteSchedule,
  x0: Float32Array,
  labels: Int32Array,
  options: { numClasses: number; labelDropout: number },
): StepInputs {
  const B = labels.length;
  const dim = x0.length / B;
  const T = schedule.T;
  const t = new Int32Array(B);
  for (let j = 0; j < B; j++) t[j] = Math.min(T - 1, Math.floor(stream.uniform() * T));
  const eps = new Float32Array(B * dim);
  stream.fill(eps);
  const drop = Float64Array.from({ length: B }, () => stream.uniform());
  const xt = new Float32Array(B * dim);
  for (let j = 0; j < B; j++) {
    const ab = schedule.alphasCumprod[t[j]];
    const a = Math.sqrt(ab);
    const s = Math.sqrt(1 - ab);
    for (let i = j * dim; i < (j + 1) * dim; i++) xt[i] = a * x0[i] + s * eps[i];
  }
  let outLabels: Int32Array | null = null;
  if (options.numClasses > 0) {
    outLabels = new Int32Array(B);
    for (let j = 0; j < B; j++) outLabels[j] = drop[j] < options.labelDropout ? options.numClasses : labels[j];
  }
  return { t, eps, xt, labels: outLabels };
}

/** A dropout seed per (run seed, step), within 2^52 so it stays an exact integer. */
export function dropoutSeed(seed: number, step: number): number {
  return Number(BigInt.asUintN(52, BigInt(seed) * 1_000_003n + BigInt(step)));
}
