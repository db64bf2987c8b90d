import { existsSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { gzipSync } from 'node:zlib';
import { afterAll, describe, expect, it } from 'vitest';
import { FASHION_MNIST_CLASSES, FASHION_MNIST_DIR, openDataset } from '../../src/data/dataset.ts';
import { DatasetFormatError, DatasetNotFoundError } from '../../src/data/errors.ts';
import { parseIdx } from '../../src/data/idx.ts';

const root = mkdtempSync(join(tmpdir(), 'ds-idx-'));
afterAll(() => rmSync(root, { recursive: true, force: true }));

/** An IDX file: magic 0x0000 08 ndim, big-endian dims, then the bytes. */
function idx(dims: number[], data: ArrayLike<number>): Buffer {
  const head = Buffer.alloc(4 + 4 * dims.length);
  head[2] = 0x08;
  head[3] = dims.length;
  dims.forEach((d, i) => head.writeUInt32BE(d, 4 + 4 * i));
  return Buffer.concat([head, Buffer.from(Array.from(data))]);
}

let dirCount = 0;
function dirWith(files: Record<string, Buffer>): string {
  const dir = join(root, `d${dirCount++}`);
  mkdirSync(dir);
  for (const [name, bytes] of Object.entries(files)) writeFileSync(join(dir, name), bytes);
  return dir;
}

// 3 images of 2x3: image i pixel p = 40 * i + p (image 2 ends with 255 to check the top of the range).
const pixels = [0, 1, 2, 3, 4, 5, 40, 41, 42, 43, 44, 45, 80, 81, 82, 83, 84, 255];
const images = idx([3, 2, 3], pixels);
const labels = idx([3], [7, 0, 9]);

describe('IDX parsing', () => {
  it('reads header dims and data, gzipped or plain', () => {
    for (const bytes of [images, gzipSync(images)]) {
      const a = parseIdx(bytes, 'x');
      expect(a.dims).toEqual([3, 2, 3]);
      expect(Array.from(a.data)).toEqual(pixels);
    }
  });

  it('rejects truncated data, trailing bytes, wrong magic, other value types and corrupt gzip', () => {
    expect(() => parseIdx(images.subarray(0, images.length - 1), 'f.idx')).toThrow(
      /f\.idx: truncated IDX file: dimensions \[3, 2, 3\] need 18 bytes of data, found 17/,
    );
    expect(() => parseIdx(images.subarray(0, 9), 'f.idx')).toThrow(/f\.idx: truncated IDX header/);
    expect(() => parseIdx(Buffer.concat([images, Buffer.from([1])]), 'f.idx')).toThrow(/1 unexpected trailing bytes/);
    expect(() => parseIdx(Buffer.from('GIF89a....'), 'f.idx')).toThrow(/f\.idx: not an IDX file \(magic 0x47494638/);
    const f32 = Buffer.from(images);
    f32[2] = 0x0d;
    expect(() => parseIdx(f32, 'f.idx')).toThrow(/value type 0x0d is not supported/);
    const gz = gzipSync(images);
    expect(() => parseIdx(gz.subarray(0, 20), 'f.gz')).toThrow(DatasetFormatError);
    expect(() => parseIdx(gz.subarray(0, 20), 'f.gz')).toThrow(/f\.gz: corrupt gzip data/);
  });
});

describe('MNIST-layout datasets', () => {
  it('open gzipped images with plain labels, scaled to [-1, 1], HWC with one channel', async () => {
    const dir = dirWith({ 'train-images-idx3-ubyte.gz': gzipSync(images), 'train-labels-idx1-ubyte': labels });
    const d = await openDataset({ kind: 'mnist', dir });
    expect(d.size).toBe(3);
    expect(d.shape).toEqual([2, 3, 1]);
    expect(d.numClasses).toBe(10);
    expect(d.classNames?.[7]).toBe('7');
    const out = new Float32Array(8);
    expect(d.read(2, out, 1)).toBe(9);
    expect(out[0]).toBe(0); // untouched before offset
    expect(Array.from(out.subarray(1, 7))).toEqual([80, 81, 82, 83, 84, 255].map((v) => Math.fround(v / 127.5 - 1)));
    expect(out[6]).toBe(1);
    expect(d.read(0, out, 0)).toBe(7);
    expect(out[0]).toBe(-1);
    expect(() => d.read(3, out, 0)).toThrow(RangeError);
    expect(() => d.read(0, out, 3)).toThrow(RangeError);
  });

  it('accept the dotted naming (t10k-images.idx3-ubyte) for the test split', async () => {
    const dir = dirWith({ 't10k-images.idx3-ubyte': images, 't10k-labels.idx1-ubyte': labels });
    const d = await openDataset({ kind: 'mnist', dir, split: 'test' });
    expect(d.size).toBe(3);
    await expect(openDataset({ kind: 'mnist', dir })).rejects.toThrow(
      /mnist: no training images in .*: expected train-images-idx3-ubyte\.gz \(or train-images-idx3-ubyte/,
    );
  });

  it('report missing dirs and files, mismatched counts, swapped files and bad labels by file name', async () => {
    await expect(openDataset({ kind: 'mnist' })).rejects.toThrow(DatasetNotFoundError);
    await expect(openDataset({ kind: 'mnist' })).rejects.toThrow(/mnist: no dir given.*train-images-idx3-ubyte/);

    const onlyImages = dirWith({ 'train-images-idx3-ubyte': images });
    await expect(openDataset({ kind: 'mnist', dir: onlyImages })).rejects.toThrow(
      /no training labels in .*train-labels-idx1-ubyte\.gz/,
    );

    const mismatch = dirWith({ 'train-images-idx3-ubyte': images, 'train-labels-idx1-ubyte': idx([2], [1, 2]) });
    await expect(openDataset({ kind: 'mnist', dir: mismatch })).rejects.toThrow(
      /train-images-idx3-ubyte holds 3 images but .*train-labels-idx1-ubyte holds 2 labels/,
    );

    const swapped = dirWith({ 'train-images-idx3-ubyte': labels, 'train-labels-idx1-ubyte': labels });
    await expect(openDataset({ kind: 'mnist', dir: swapped })).rejects.toThrow(
      /train-images-idx3-ubyte: expected 3-dimensional IDX images \(magic 0x00000803\), found 1/,
    );

    const badLabel = dirWith({ 'train-images-idx3-ubyte': images, 'train-labels-idx1-ubyte': idx([3], [1, 10, 2]) });
    await expect(openDataset({ kind: 'mnist', dir: badLabel })).rejects.toThrow(
      /train-labels-idx1-ubyte: label 10 at index 1 is out of range \(10 classes\)/,
    );

    const truncated = dirWith({
      'train-images-idx3-ubyte.gz': gzipSync(images.subarray(0, 20)),
      'train-labels-idx1-ubyte': labels,
    });
    const err = await openDataset({ kind: 'mnist', dir: truncated }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(DatasetFormatError);
    expect((err as DatasetFormatError).path).toBe(join(truncated, 'train-images-idx3-ubyte.gz'));
    expect((err as Error).message).toMatch(/truncated IDX file/);
  });
});

describe('the real Fashion-MNIST (Debian dataset-fashion-mnist)', () => {
  it('has 60,000 training and 10,000 test images of 28x28 in 10 classes', async () => {
    const file = join(FASHION_MNIST_DIR, 'train-images-idx3-ubyte.gz');
    expect(existsSync(file), `${file} is missing: apt-get install dataset-fashion-mnist`).toBe(true);

    const train = await openDataset({ kind: 'fashion-mnist' });
    expect(train.size).toBe(60_000);
    expect(train.shape).toEqual([28, 28, 1]);
    expect(train.numClasses).toBe(10);
    expect(train.classNames).toEqual(FASHION_MNIST_CLASSES);
    const out = new Float32Array(784);
    // The first training labels as stored in train-labels-idx1-ubyte (9 = Ankle boot).
    expect(Array.from({ length: 10 }, (_, i) => train.read(i, out, 0))).toEqual([9, 0, 0, 3, 0, 2, 7, 2, 5, 5]);
    train.read(0, out, 0);
    expect(Math.min(...out)).toBe(-1); // black background
    expect(Math.max(...out)).toBeLessThanOrEqual(1);
    expect(out.filter((v) => v > 0).length).toBeGreaterThan(200); // a boot, not an empty image

    const test = await openDataset({ kind: 'fashion-mnist', split: 'test' });
    expect(test.size).toBe(10_000);
    expect(Array.from({ length: 5 }, (_, i) => test.read(i, out, 0))).toEqual([9, 2, 1, 1, 6]);
  });
});
