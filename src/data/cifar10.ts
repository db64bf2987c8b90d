/**
 * CIFAR-10, binary version (https://www.cs.toronto.edu/~kriz/cifar.html): data_batch_1.bin .. data_batch_5.bin
 * (train) and test_batch.bin (test). Each record is 1 label byte then 3072 pixel bytes: the 1024 red values, then
 * green, then blue, each plane row-major 32x32. Records are kept as read and transposed to HWC in read(), so the
 * dataset holds one copy of the pixels (150 MB for the training set).
 */
import { existsSync, readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { BYTE_TO_UNIT, checkIndex, checkOut } from './bytes.ts';
import type { Dataset } from './dataset.ts';
import { DatasetFormatError, DatasetNotFoundError } from './errors.ts';

export const CIFAR10_CLASSES: readonly string[] = [
  'airplane',
  'automobile',
  'bird',
  'cat',
  'deer',
  'dog',
  'frog',
  'horse',
  'ship',
  'truck',
];

const SIDE = 32;
const PLANE = SIDE * SIDE;
const RECORD = 1 + 3 * PLANE;
/** The archive unpacks into this folder; accepting it saves users one path component. */
const ARCHIVE_DIR = 'cifar-10-batches-bin';

export function cifarBatchNames(split: 'train' | 'test'): string[] {
  return split === 'train' ? [1, 2, 3, 4, 5].map((i) => `data_batch_${i}.bin`) : ['test_batch.bin'];
}

function resolveDir(dir: string, names: readonly string[]): string {
  const nested = join(dir, ARCHIVE_DIR);
  if (!existsSync(join(dir, names[0])) && existsSync(nested) && statSync(nested).isDirectory()) return nested;
  return dir;
}

/** Class names from batches.meta.txt (one per line) when present, else the standard ten. */
function readClassNames(dir: string): readonly string[] {
  const path = join(dir, 'batches.meta.txt');
  if (!existsSync(path)) return CIFAR10_CLASSES;
  const names = readFileSync(path, 'utf8')
    .split(/\r?\n/)
    .map((s) => s.trim())
    .filter((s) => s.length > 0);
  if (names.length !== CIFAR10_CLASSES.length) {
    throw new DatasetFormatError(
      `${path}: expected ${CIFAR10_CLASSES.length} class names, found ${names.length}`,
      path,
    );
  }
  return names;
}

export function openCifar10(dir: string, split: 'train' | 'test'): Dataset {
  const names = cifarBatchNames(split);
  const root = resolveDir(dir, names);
  const missing = names.filter((n) => !existsSync(join(root, n)));
  if (missing.length > 0) {
    throw new DatasetNotFoundError(
      `cifar10: missing ${missing.join(', ')} in ${root} (the ${split} split needs ${names.join(', ')}; ` +
        `download the "CIFAR-10 binary version" and point dir at ${ARCHIVE_DIR} or its parent)`,
      root,
    );
  }
  const classNames = readClassNames(root);
  const batches: Uint8Array[] = [];
  const starts: number[] = []; // first global index of each batch
  let size = 0;
  for (const name of names) {
    const path = join(root, name);
    const bytes = readFileSync(path);
    if (bytes.length === 0 || bytes.length % RECORD !== 0) {
      throw new DatasetFormatError(
        `${path}: truncated CIFAR-10 batch: ${bytes.length} bytes is not a whole number of ${RECORD}-byte records`,
        path,
      );
    }
    const n = bytes.length / RECORD;
    for (let r = 0; r < n; r++) {
      const label = bytes[r * RECORD];
      if (label >= classNames.length) {
        throw new DatasetFormatError(
          `${path}: record ${r} has label ${label}, expected 0..${classNames.length - 1}`,
          path,
        );
      }
    }
    starts.push(size);
    batches.push(bytes);
    size += n;
  }
  return {
    name: 'cifar10',
    size,
    shape: [SIDE, SIDE, 3],
    numClasses: classNames.length,
    classNames,
    read(index: number, out: Float32Array, offset: number): number {
      checkIndex(index, size, 'cifar10');
      checkOut(out, offset, 3 * PLANE);
      let b = batches.length - 1;
      while (starts[b] > index) b--;
      const bytes = batches[b];
      const base = (index - starts[b]) * RECORD;
      // CHW planes -> HWC: pixel p of channel c sits at base + 1 + c * 1024 + p.
      for (let p = 0; p < PLANE; p++) {
        const o = offset + 3 * p;
        out[o] = BYTE_TO_UNIT[bytes[base + 1 + p]];
        out[o + 1] = BYTE_TO_UNIT[bytes[base + 1 + PLANE + p]];
        out[o + 2] = BYTE_TO_UNIT[bytes[base + 1 + 2 * PLANE + p]];
      }
      return bytes[base];
    },
  };
}
