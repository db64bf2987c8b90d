/** A tiny labelled image set in MNIST's IDX format, for training tests that must not wait for real data. */
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';

/** An MNIST-format set of 8x8 blobs in 3 classes. */
export function writeTinyIdx(dir: string, n = 8, size = 8): void {
  const header = (magic: number, dims: number[]) => {
    const b = Buffer.alloc(4 + 4 * dims.length);
    b.writeUInt32BE(magic, 0);
    dims.forEach((d, i) => b.writeUInt32BE(d, 4 + 4 * i));
    return b;
  };
  const images = Buffer.alloc(n * size * size);
  const labels = Buffer.alloc(n);
  for (let j = 0; j < n; j++) {
    labels[j] = j % 3;
    const cx = 1.5 + 2.5 * (j % 3);
    for (let y = 0; y < size; y++)
      for (let x = 0; x < size; x++) {
        images[(j * size + y) * size + x] = Math.round(255 * Math.exp(-((x - cx) ** 2 + (y - size / 2) ** 2) / 4));
      }
  }
  writeFileSync(join(dir, 'train-images-idx3-ubyte'), Buffer.concat([header(0x803, [n, size, size]), images]));
  writeFileSync(join(dir, 'train-labels-idx1-ubyte'), Buffer.concat([header(0x801, [n]), labels]));
}
