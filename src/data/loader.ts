/**
 * Deterministic training batches: the whole future of a loader is a pure function of (seed, position), so a
 * checkpoint that stores the position resumes with exactly the batches an uninterrupted run would have seen.
 *
 * Rules (never change them: saved runs depend on them):
 * - Epoch e visits the examples in the order of a Fisher-Yates permutation drawn from the Philox stream
 *   (seed, sample = e, StreamPurpose.data), block high word 0 (see streams.ts): draw d (d = 0 .. n-2, swapping
 *   position i = n-1-d with j = floor(u_d * (i + 1)), u_d = word / 2^32) reads word d % 4 of block floor(d / 4).
 * - Batches are consecutive slices of that order and never straddle epochs: when fewer than batchSize examples
 *   remain, they are dropped (dropLast) and the next batch is the start of epoch e + 1. Every epoch therefore has
 *   floor(n / batchSize) batches and sees distinct examples.
 * - Horizontal flips (images only): the example at position k of epoch e is mirrored along the width axis of
 *   [H, W, C] iff bit k % 32 of word (k >> 5) % 4 of block floor(k / 128) of the stream (seed, e, data), block high
 *   word 1, is set. The decision depends on (seed, epoch, position), not on the batch size or on history.
 * - The position is { epoch, index }: index = examples of epoch's order already consumed. It is normalized after
 *   every batch (a finished epoch becomes { epoch + 1, index: 0 }), so it is the only state to checkpoint.
 */
import { philox4x32, StreamPurpose } from '../core/rng.ts';
import { exampleSize, type Dataset } from './dataset.ts';
import { DATA_BLOCK_HIGH, TWO_POW_32 } from './streams.ts';

export interface LoaderOptions {
  /** The run's seed (non-negative safe integer). */
  seed: number;
  batchSize: number;
  /** Random horizontal flips, half the examples on average (image datasets only). */
  hflip?: boolean;
  /** Always true: a short last batch of an epoch is dropped (the only rule, stated for clarity). */
  dropLast?: true;
}

export interface LoaderPosition {
  epoch: number;
  /** Examples of this epoch's order already consumed. */
  index: number;
}

export interface Batch {
  /** batchSize * prod(shape) values, example-major. */
  x: Float32Array;
  /** One per example, -1 where unlabeled. */
  labels: Int32Array;
  /** The position this batch started at. */
  epoch: number;
  index: number;
}

function keyOf(seed: number): [number, number] {
  if (!Number.isSafeInteger(seed) || seed < 0) {
    throw new RangeError(`seed must be a non-negative safe integer, got ${seed}`);
  }
  return [(seed % TWO_POW_32) >>> 0, Math.floor(seed / TWO_POW_32) >>> 0];
}

function checkEpoch(epoch: number): void {
  if (!Number.isInteger(epoch) || epoch < 0 || epoch >= TWO_POW_32) {
    throw new RangeError(`epoch must be an integer in [0, 2^32), got ${epoch}`);
  }
}

/** The visiting order of epoch `epoch`: a permutation of 0 .. n-1. */
export function epochPermutation(seed: number, epoch: number, n: number): Uint32Array {
  const [k0, k1] = keyOf(seed);
  checkEpoch(epoch);
  const perm = new Uint32Array(n);
  for (let i = 0; i < n; i++) perm[i] = i;
  const words = new Uint32Array(4);
  for (let d = 0; d < n - 1; d++) {
    if ((d & 3) === 0) philox4x32(d >>> 2, DATA_BLOCK_HIGH.shuffle, epoch, StreamPurpose.data, k0, k1, words);
    const i = n - 1 - d;
    const j = Math.floor((words[d & 3] / TWO_POW_32) * (i + 1));
    const t = perm[i];
    perm[i] = perm[j];
    perm[j] = t;
  }
  return perm;
}

/** Flip decisions for positions start .. start + count - 1 of epoch `epoch` (1 = flip). */
export function flipDecisions(seed: number, epoch: number, start: number, count: number): Uint8Array {
  const [k0, k1] = keyOf(seed);
  checkEpoch(epoch);
  const out = new Uint8Array(count);
  const words = new Uint32Array(4);
  let block = -1;
  for (let i = 0; i < count; i++) {
    const k = start + i;
    const b = Math.floor(k / 128);
    if (b !== block) {
      philox4x32(b, DATA_BLOCK_HIGH.flip, epoch, StreamPurpose.data, k0, k1, words);
      block = b;
    }
    out[i] = (words[(k >>> 5) & 3] >>> (k & 31)) & 1;
  }
  return out;
}

/** Mirror one [h, w, c] image in place along its width axis. */
export function hflipInPlace(x: Float32Array, offset: number, h: number, w: number, c: number): void {
  for (let y = 0; y < h; y++) {
    const row = offset + y * w * c;
    for (let a = 0, b = w - 1; a < b; a++, b--) {
      for (let ch = 0; ch < c; ch++) {
        const t = x[row + a * c + ch];
        x[row + a * c + ch] = x[row + b * c + ch];
        x[row + b * c + ch] = t;
      }
    }
  }
}

export class BatchLoader {
  readonly batchSize: number;
  readonly batchesPerEpoch: number;
  private readonly seed: number;
  private readonly hflip: boolean;
  private readonly dim: number;
  private epoch = 0;
  private index = 0;
  private perm: Uint32Array | null = null;
  private permEpoch = -1;

  constructor(
    readonly dataset: Dataset,
    options: LoaderOptions,
  ) {
    const { seed, batchSize } = options;
    keyOf(seed);
    if (!Number.isInteger(batchSize) || batchSize < 1) {
      throw new RangeError(`batchSize must be a positive integer, got ${batchSize}`);
    }
    if (batchSize > dataset.size) {
      throw new RangeError(`batchSize ${batchSize} is larger than ${dataset.name} (${dataset.size} examples)`);
    }
    if (options.dropLast !== undefined && options.dropLast !== true) {
      throw new RangeError('dropLast must be true: a short last batch is always dropped');
    }
    this.hflip = options.hflip ?? false;
    if (this.hflip && dataset.shape.length !== 3) {
      throw new RangeError(`hflip needs images of shape [H, W, C]; ${dataset.name} has shape [${dataset.shape}]`);
    }
    this.seed = seed;
    this.batchSize = batchSize;
    this.batchesPerEpoch = Math.floor(dataset.size / batchSize);
    this.dim = exampleSize(dataset);
  }

  /** A loader whose next batch is the one an uninterrupted loader would produce at `position`. */
  static restore(dataset: Dataset, options: LoaderOptions, position: LoaderPosition): BatchLoader {
    const loader = new BatchLoader(dataset, options);
    loader.seek(position);
    return loader;
  }

  /** Where the next batch starts (a copy: store it in checkpoints). */
  get position(): LoaderPosition {
    return { epoch: this.epoch, index: this.index };
  }

  seek(position: LoaderPosition): void {
    const { epoch, index } = position;
    checkEpoch(epoch);
    if (!Number.isInteger(index) || index < 0 || index > this.dataset.size) {
      throw new RangeError(`position index must be an integer in [0, ${this.dataset.size}], got ${index}`);
    }
    this.epoch = epoch;
    this.index = index;
    this.normalize();
  }

  /** The order of the current epoch (cached; a permutation costs n / 4 Philox calls). */
  private order(): Uint32Array {
    if (this.permEpoch !== this.epoch || !this.perm) {
      this.perm = epochPermutation(this.seed, this.epoch, this.dataset.size);
      this.permEpoch = this.epoch;
    }
    return this.perm;
  }

  private normalize(): void {
    if (this.index + this.batchSize > this.dataset.size) {
      checkEpoch(this.epoch + 1);
      this.epoch++;
      this.index = 0;
    }
  }

  next(): Batch {
    const { batchSize: B, dim, dataset } = this;
    const epoch = this.epoch;
    const start = this.index;
    const perm = this.order();
    const x = new Float32Array(B * dim);
    const labels = new Int32Array(B);
    const flips = this.hflip ? flipDecisions(this.seed, epoch, start, B) : null;
    const [h, w, c] = dataset.shape;
    for (let b = 0; b < B; b++) {
      labels[b] = dataset.read(perm[start + b], x, b * dim);
      if (flips && flips[b]) hflipInPlace(x, b * dim, h, w, c);
    }
    this.index += B;
    this.normalize();
    return { x, labels, epoch, index: start };
  }
}
