import { describe, expect, it } from 'vitest';
import type { Dataset } from '../../src/data/dataset.ts';
import { BatchLoader, epochPermutation, flipDecisions, type Batch } from '../../src/data/loader.ts';

const H = 3;
const W = 4;
const C = 2;
const D = H * W * C;

/** Value of example i at (y, x, c): unique, so a batch says which example and which pixel every value came from. */
const code = (i: number, y: number, x: number, c: number) => i * D + (y * W + x) * C + c;

function images(size: number): Dataset {
  return {
    name: 'synthetic',
    size,
    shape: [H, W, C],
    numClasses: 5,
    read(i, out, offset) {
      for (let y = 0; y < H; y++)
        for (let x = 0; x < W; x++) for (let c = 0; c < C; c++) out[offset + (y * W + x) * C + c] = code(i, y, x, c);
      return i % 5;
    },
  };
}

const vectors: Dataset = { name: 'vec', size: 10, shape: [2], numClasses: 0, read: () => -1 };

/** Which example a batch slot holds, and whether it was mirrored. */
function decode(batch: Batch, b: number): { example: number; flipped: boolean } {
  const v = batch.x.subarray(b * D, (b + 1) * D);
  const example = Math.floor(v[0] / D);
  return { example, flipped: v[0] !== code(example, 0, 0, 0) };
}

const take = (loader: BatchLoader, n: number) => Array.from({ length: n }, () => loader.next());

describe('epoch permutations', () => {
  it('are permutations that differ between epochs and seeds, and never change (saved runs depend on them)', () => {
    for (const n of [1, 2, 7, 100, 1000]) {
      for (const epoch of [0, 1, 99]) {
        const p = epochPermutation(5, epoch, n);
        expect(Array.from(p).sort((a, b) => a - b)).toEqual(Array.from({ length: n }, (_, i) => i));
      }
    }
    expect(epochPermutation(5, 0, 100)).not.toEqual(epochPermutation(5, 1, 100));
    expect(epochPermutation(5, 0, 100)).not.toEqual(epochPermutation(6, 0, 100));
    // Golden values: the shuffle and flip rules of loader.ts must never change.
    expect(Array.from(epochPermutation(1, 0, 10))).toEqual([1, 9, 8, 7, 2, 0, 5, 3, 6, 4]);
    expect(Array.from(epochPermutation(1, 1, 10))).toEqual([9, 6, 1, 7, 2, 3, 8, 4, 5, 0]);
    expect(Array.from(flipDecisions(1, 0, 0, 16)).join('')).toBe('1100101010011100');
  });

  it('flip decisions are a pure function of (seed, epoch, position)', () => {
    const all = flipDecisions(9, 2, 0, 1000);
    expect(flipDecisions(9, 2, 300, 200)).toEqual(all.subarray(300, 500));
    const ones = all.reduce((s, v) => s + v, 0);
    expect(Math.abs(ones - 500)).toBeLessThan(80); // 5 standard deviations
    expect(flipDecisions(9, 3, 0, 1000)).not.toEqual(all);
  });
});

describe('BatchLoader', () => {
  it('walks each epoch in its permutation order, dropping the short last batch', () => {
    const d = images(10);
    const loader = new BatchLoader(d, { seed: 4, batchSize: 4 });
    expect(loader.batchesPerEpoch).toBe(2);
    const batches = take(loader, 6);
    expect(batches.map((b) => [b.epoch, b.index])).toEqual([
      [0, 0],
      [0, 4],
      [1, 0],
      [1, 4],
      [2, 0],
      [2, 4],
    ]);
    expect(loader.position).toEqual({ epoch: 3, index: 0 });
    for (const [k, batch] of batches.entries()) {
      const perm = epochPermutation(4, batch.epoch, 10);
      for (let b = 0; b < 4; b++) {
        const { example, flipped } = decode(batch, b);
        expect(example).toBe(perm[batch.index + b]);
        expect(flipped).toBe(false);
        expect(batch.labels[b]).toBe(example % 5);
      }
      expect(batch.x.length).toBe(4 * D);
      if (k % 2 === 1) {
        const seen = [...batches[k - 1].x, ...batch.x].filter((_, i) => i % D === 0);
        expect(new Set(seen).size).toBe(8); // distinct examples within an epoch
      }
    }
    expect(batches[0].x).not.toEqual(batches[2].x); // a new order each epoch
  });

  it('restores at any position to exactly the continuation of an uninterrupted run', () => {
    const d = images(23);
    for (const hflip of [false, true]) {
      const options = { seed: 123456789, batchSize: 5, hflip };
      const loader = new BatchLoader(d, options);
      const run: { position: { epoch: number; index: number }; batch: Batch }[] = [];
      for (let k = 0; k < 20; k++) run.push({ position: loader.position, batch: loader.next() });
      for (const k of [0, 1, 3, 4, 9, 14]) {
        const resumed = BatchLoader.restore(d, options, run[k].position);
        for (let j = k; j < 20; j++) {
          const b = resumed.next();
          expect(b.epoch).toBe(run[j].batch.epoch);
          expect(b.index).toBe(run[j].batch.index);
          expect(Buffer.from(b.x.buffer).equals(Buffer.from(run[j].batch.x.buffer))).toBe(true);
          expect(b.labels).toEqual(run[j].batch.labels);
        }
      }
    }
  });

  it('gives different batches for different seeds', () => {
    const d = images(50);
    const a = new BatchLoader(d, { seed: 1, batchSize: 10 }).next();
    const b = new BatchLoader(d, { seed: 2, batchSize: 10 }).next();
    expect(a.x).not.toEqual(b.x);
  });

  it('hflip mirrors exactly the width axis of HWC, by position, whatever the batch size', () => {
    const d = images(40);
    const seed = 77;
    const byFive = take(new BatchLoader(d, { seed, batchSize: 5, hflip: true }), 8);
    const byTen = take(new BatchLoader(d, { seed, batchSize: 10, hflip: true }), 4);
    const flat = (bs: Batch[]) => Float32Array.from(bs.flatMap((b) => Array.from(b.x)));
    expect(flat(byFive)).toEqual(flat(byTen));
    const flips = flipDecisions(seed, 0, 0, 40);
    let flipped = 0;
    for (const [k, batch] of byTen.entries()) {
      for (let b = 0; b < 10; b++) {
        const { example, flipped: f } = decode(batch, b);
        expect(f).toBe(flips[k * 10 + b] === 1);
        flipped += f ? 1 : 0;
        for (let y = 0; y < H; y++)
          for (let x = 0; x < W; x++)
            for (let c = 0; c < C; c++) {
              const want = code(example, y, f ? W - 1 - x : x, c);
              expect(batch.x[b * D + (y * W + x) * C + c]).toBe(want);
            }
      }
    }
    expect(flipped).toBeGreaterThan(5);
    expect(flipped).toBeLessThan(35);
  });

  it('rejects bad options and positions', () => {
    const d = images(10);
    expect(() => new BatchLoader(d, { seed: 1, batchSize: 11 })).toThrow(/larger than synthetic/);
    expect(() => new BatchLoader(d, { seed: 1, batchSize: 0 })).toThrow(RangeError);
    expect(() => new BatchLoader(d, { seed: -1, batchSize: 2 })).toThrow(/seed/);
    expect(() => new BatchLoader(d, { seed: 1, batchSize: 2, dropLast: false as never })).toThrow(/dropLast/);
    expect(() => new BatchLoader(vectors, { seed: 1, batchSize: 2, hflip: true })).toThrow(/hflip needs images/);
    expect(() => BatchLoader.restore(d, { seed: 1, batchSize: 2 }, { epoch: 0, index: 11 })).toThrow(RangeError);
    expect(() => BatchLoader.restore(d, { seed: 1, batchSize: 2 }, { epoch: 1.5, index: 0 })).toThrow(RangeError);
    // A position past the last full batch means the start of the next epoch.
    expect(BatchLoader.restore(d, { seed: 1, batchSize: 4 }, { epoch: 2, index: 9 }).position).toEqual({
      epoch: 3,
      index: 0,
    });
  });
});
