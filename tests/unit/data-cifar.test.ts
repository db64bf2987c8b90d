import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { CIFAR10_CLASSES } from '../../src/data/cifar10.ts';
import { openDataset } from '../../src/data/dataset.ts';
import { DatasetFormatError, DatasetNotFoundError } from '../../src/data/errors.ts';

const root = mkdtempSync(join(tmpdir(), 'ds-cifar-'));
afterAll(() => rmSync(root, { recursive: true, force: true }));

const PLANE = 1024;
const RECORD = 1 + 3 * PLANE;

/** Pixel byte of (record seed r, channel c, pixel p): distinct per channel and position. */
const value = (r: number, c: number, p: number) => (r * 31 + c * 85 + p * 7) % 256;

/** A batch file: label byte, then the R, G and B planes (row-major 32x32). */
function batch(labels: number[], first = 0): Buffer {
  const buf = Buffer.alloc(labels.length * RECORD);
  labels.forEach((label, k) => {
    const base = k * RECORD;
    buf[base] = label;
    for (let c = 0; c < 3; c++) for (let p = 0; p < PLANE; p++) buf[base + 1 + c * PLANE + p] = value(first + k, c, p);
  });
  return buf;
}

let dirCount = 0;
function dirWith(files: Record<string, Buffer | string>, nested = false): string {
  const dir = join(root, `d${dirCount++}`);
  const target = nested ? join(dir, 'cifar-10-batches-bin') : dir;
  mkdirSync(target, { recursive: true });
  for (const [name, bytes] of Object.entries(files)) writeFileSync(join(target, name), bytes);
  return dir;
}

describe('CIFAR-10 binary batches', () => {
  it('read a 2-record test batch as HWC in [-1, 1] with labels and the standard class names', async () => {
    const dir = dirWith({ 'test_batch.bin': batch([3, 8]) });
    const d = await openDataset({ kind: 'cifar10', dir, split: 'test' });
    expect(d.size).toBe(2);
    expect(d.shape).toEqual([32, 32, 3]);
    expect(d.numClasses).toBe(10);
    expect(d.classNames).toEqual(CIFAR10_CLASSES);
    const out = new Float32Array(3072 + 5);
    expect(d.read(1, out, 5)).toBe(8);
    for (const [y, x] of [
      [0, 0],
      [0, 31],
      [17, 4],
      [31, 31],
    ]) {
      const p = y * 32 + x;
      for (let c = 0; c < 3; c++) expect(out[5 + p * 3 + c]).toBe(Math.fround(value(1, c, p) / 127.5 - 1));
    }
    expect(d.read(0, out, 0)).toBe(3);
  });

  it('find the batches inside cifar-10-batches-bin, in file order, with names from batches.meta.txt', async () => {
    const files: Record<string, Buffer | string> = {};
    for (let i = 1; i <= 5; i++) files[`data_batch_${i}.bin`] = batch([i, i - 1], 2 * (i - 1));
    files['batches.meta.txt'] = 'a\nb\nc\nd\ne\nf\ng\nh\ni\nj\n\n';
    const d = await openDataset({ kind: 'cifar10', dir: dirWith(files, true) });
    expect(d.size).toBe(10);
    expect(d.classNames).toEqual(['a', 'b', 'c', 'd', 'e', 'f', 'g', 'h', 'i', 'j']);
    const out = new Float32Array(3072);
    expect(Array.from({ length: 10 }, (_, i) => d.read(i, out, 0))).toEqual([1, 0, 2, 1, 3, 2, 4, 3, 5, 4]);
    expect(out[3 * 100 + 2]).toBe(Math.fround(value(9, 2, 100) / 127.5 - 1)); // global index 9 = batch 5, record 1
  });

  it('name missing batches, truncated files, bad labels and bad meta files', async () => {
    const partial = dirWith({ 'data_batch_1.bin': batch([0]), 'data_batch_3.bin': batch([0]) });
    const missing = await openDataset({ kind: 'cifar10', dir: partial }).catch((e: unknown) => e);
    expect(missing).toBeInstanceOf(DatasetNotFoundError);
    expect((missing as Error).message).toMatch(/missing data_batch_2\.bin, data_batch_4\.bin, data_batch_5\.bin in /);
    await expect(openDataset({ kind: 'cifar10' })).rejects.toThrow(/cifar10: no dir given.*test_batch\.bin/);

    const truncated = dirWith({ 'test_batch.bin': batch([1, 2]).subarray(0, RECORD + 100) });
    await expect(openDataset({ kind: 'cifar10', dir: truncated, split: 'test' })).rejects.toThrow(
      /test_batch\.bin: truncated CIFAR-10 batch: 3173 bytes is not a whole number of 3073-byte records/,
    );
    const badLabel = dirWith({ 'test_batch.bin': batch([1, 12]) });
    await expect(openDataset({ kind: 'cifar10', dir: badLabel, split: 'test' })).rejects.toThrow(
      /test_batch\.bin: record 1 has label 12, expected 0\.\.9/,
    );
    const badMeta = dirWith({ 'test_batch.bin': batch([1]), 'batches.meta.txt': 'cat\ndog\n' });
    const err = await openDataset({ kind: 'cifar10', dir: badMeta, split: 'test' }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(DatasetFormatError);
    expect((err as Error).message).toMatch(/batches\.meta\.txt: expected 10 class names, found 2/);
  });
});
