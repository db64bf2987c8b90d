/**
 * Counter-based random numbers: Philox4x32-10 (Salmon et al., "Parallel random numbers: as easy as 1, 2, 3", 2011).
 *
 * Why counter-based: sample j of a run seeded with s draws from its own stream keyed by (s, j), addressed by a
 * block counter. The same seed therefore gives the same sample whatever the batch size, the order in which batches
 * run, or which cells of a sampler grid share the noise. A stream's whole state is one integer (its block
 * position), which is what a checkpoint stores.
 *
 * Layout of one Philox call: key = (seed low 32 bits, seed high 21 bits), counter = (block low, block high,
 * sample index, stream purpose). Each block gives four uint32 words -> four normals by Box-Muller.
 */
import type { NoiseSource, Vec } from './types.ts';

const M0 = 0xd2511f53;
const M1 = 0xcd9e8d57;
const W0 = 0x9e3779b9;
const W1 = 0xbb67ae85;

/** High 32 bits of the 64-bit product of two uint32 values. */
function mulhi(a: number, b: number): number {
  const aLo = a & 0xffff;
  const aHi = a >>> 16;
  const bLo = b & 0xffff;
  const bHi = b >>> 16;
  const lolo = aLo * bLo;
  const mid1 = aHi * bLo;
  const mid2 = aLo * bHi;
  const carry = ((lolo >>> 16) + (mid1 & 0xffff) + (mid2 & 0xffff)) >>> 16;
  return (aHi * bHi + (mid1 >>> 16) + (mid2 >>> 16) + carry) >>> 0;
}

/** Philox4x32 with `rounds` rounds (10 is the standard). Writes four uint32 words to out. */
export function philox4x32(
  c0: number,
  c1: number,
  c2: number,
  c3: number,
  k0: number,
  k1: number,
  out: Uint32Array,
  rounds = 10,
): Uint32Array {
  let x0 = c0 >>> 0;
  let x1 = c1 >>> 0;
  let x2 = c2 >>> 0;
  let x3 = c3 >>> 0;
  let key0 = k0 >>> 0;
  let key1 = k1 >>> 0;
  for (let r = 0; r < rounds; r++) {
    const hi0 = mulhi(M0, x0);
    const lo0 = Math.imul(M0, x0) >>> 0;
    const hi1 = mulhi(M1, x2);
    const lo1 = Math.imul(M1, x2) >>> 0;
    x0 = (hi1 ^ x1 ^ key0) >>> 0;
    x1 = lo1;
    x2 = (hi0 ^ x3 ^ key1) >>> 0;
    x3 = lo0;
    key0 = (key0 + W0) >>> 0;
    key1 = (key1 + W1) >>> 0;
  }
  out[0] = x0;
  out[1] = x1;
  out[2] = x2;
  out[3] = x3;
  return out;
}

/** Purposes keep independent uses of the same (seed, sample) apart. Never renumber: saved runs depend on them. */
export const StreamPurpose = {
  /** Initial noise x_T. */
  init: 0,
  /** Per-step noise of stochastic samplers. */
  sampler: 1,
  /** Training: timesteps, noise, dropout. */
  train: 2,
  /** Data order and augmentation. */
  data: 3,
  /** Training-time preview samples. */
  preview: 4,
  /** Initial model parameters (src/model/init.ts); sample index = a hash of the parameter name. */
  params: 6,
} as const;

const TWO_POW_32 = 4294967296;

function checkSeed(seed: number): void {
  if (!Number.isSafeInteger(seed) || seed < 0) {
    throw new RangeError(`seed must be a non-negative safe integer, got ${seed}`);
  }
}

/**
 * One stream: the normals of (seed, sample index, purpose), read sequentially. `position` counts blocks of four
 * values; every read starts on a block boundary so that a read of n values always consumes ceil(n / 4) blocks.
 */
export class NormalStream {
  position: number;
  private readonly k0: number;
  private readonly k1: number;
  private readonly words = new Uint32Array(4);

  constructor(
    readonly seed: number,
    readonly sample: number,
    readonly purpose: number,
    position = 0,
  ) {
    checkSeed(seed);
    if (!Number.isInteger(sample) || sample < 0 || sample >= TWO_POW_32) {
      throw new RangeError(`sample index must be a uint32, got ${sample}`);
    }
    this.k0 = (seed % TWO_POW_32) >>> 0;
    this.k1 = Math.floor(seed / TWO_POW_32) >>> 0;
    this.position = position;
  }

  /** Fill out[offset .. offset + n) with standard normals. */
  fill(out: Vec, offset = 0, n = out.length - offset): void {
    const w = this.words;
    for (let i = 0; i < n; i += 4) {
      const block = this.position++;
      philox4x32(block % TWO_POW_32, Math.floor(block / TWO_POW_32), this.sample, this.purpose, this.k0, this.k1, w);
      // Box-Muller on (w0, w1) and (w2, w3); (u + 0.5) / 2^32 keeps u in (0, 1) so log never sees 0.
      const r0 = Math.sqrt(-2 * Math.log((w[0] + 0.5) / TWO_POW_32));
      const a0 = (2 * Math.PI * (w[1] + 0.5)) / TWO_POW_32;
      const r1 = Math.sqrt(-2 * Math.log((w[2] + 0.5) / TWO_POW_32));
      const a1 = (2 * Math.PI * (w[3] + 0.5)) / TWO_POW_32;
      const base = offset + i;
      out[base] = r0 * Math.cos(a0);
      if (i + 1 < n) out[base + 1] = r0 * Math.sin(a0);
      if (i + 2 < n) out[base + 2] = r1 * Math.cos(a1);
      if (i + 3 < n) out[base + 3] = r1 * Math.sin(a1);
    }
  }

  /** Uniform in [0, 1) with 32 bits of resolution, from its own block. */
  uniform(): number {
    const block = this.position++;
    philox4x32(
      block % TWO_POW_32,
      Math.floor(block / TWO_POW_32),
      this.sample,
      this.purpose,
      this.k0,
      this.k1,
      this.words,
    );
    return this.words[0] / TWO_POW_32;
  }
}

/**
 * Noise for a batch of samples with global indices firstSample .. firstSample + count - 1, each from its own
 * stream. Batch k of a job uses firstSample = k * batchSize, so splitting a job differently changes nothing.
 */
export class BatchNoise implements NoiseSource {
  readonly streams: NormalStream[];

  constructor(
    seed: number,
    readonly firstSample: number,
    readonly count: number,
    readonly dim: number,
    purpose: number = StreamPurpose.sampler,
  ) {
    this.streams = Array.from({ length: count }, (_, j) => new NormalStream(seed, firstSample + j, purpose));
  }

  normal(out: Vec): void {
    if (out.length !== this.count * this.dim) {
      throw new RangeError(`noise buffer has ${out.length} values, expected ${this.count} x ${this.dim}`);
    }
    for (let j = 0; j < this.count; j++) this.streams[j].fill(out, j * this.dim, this.dim);
  }

  /** Block positions of every stream: the whole state, for checkpoints. */
  positions(): number[] {
    return this.streams.map((s) => s.position);
  }

  restore(positions: readonly number[]): void {
    if (positions.length !== this.count) throw new RangeError('stream position count does not match the batch');
    positions.forEach((p, j) => (this.streams[j].position = p));
  }
}

/** Initial noise z ~ N(0, I) for samples firstSample .. firstSample + count - 1 (purpose `init`). */
export function initialNoise(
  seed: number,
  firstSample: number,
  count: number,
  dim: number,
  ArrayType: Float32ArrayConstructor | Float64ArrayConstructor = Float32Array,
): Vec {
  const out = new ArrayType(count * dim);
  new BatchNoise(seed, firstSample, count, dim, StreamPurpose.init).normal(out);
  return out;
}
