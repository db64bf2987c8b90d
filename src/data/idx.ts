/**
 * IDX files (the MNIST / Fashion-MNIST format, http://yann.lecun.com/exdb/mnist/): a 4-byte magic
 * (0x00 0x00 type ndim; type 0x08 = unsigned byte), ndim big-endian uint32 dimensions, then the values in C order.
 * Images are 0x00000803 ([count, rows, cols]), labels 0x00000801 ([count]). Files may be gzipped (detected by the
 * 0x1f 0x8b magic, not by the name) and may follow either naming: `train-images-idx3-ubyte(.gz)` (the original
 * distribution, Debian's dataset-fashion-mnist) or `train-images.idx3-ubyte` (common re-uploads).
 */
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { gunzipSync } from 'node:zlib';
import { bytesToUnit, checkIndex } from './bytes.ts';
import type { Dataset } from './dataset.ts';
import { DatasetFormatError, DatasetNotFoundError } from './errors.ts';

export interface IdxArray {
  /** Dimensions from the header, e.g. [60000, 28, 28]. */
  dims: number[];
  /** The values, C order, exactly prod(dims) bytes. */
  data: Uint8Array;
}

const UBYTE = 0x08;

function isGzip(bytes: Uint8Array): boolean {
  return bytes.length >= 2 && bytes[0] === 0x1f && bytes[1] === 0x8b;
}

/** Parse an IDX file's bytes (gzipped or not). `file` only names the source in error messages. */
export function parseIdx(raw: Uint8Array, file: string): IdxArray {
  let bytes = raw;
  if (isGzip(raw)) {
    try {
      bytes = gunzipSync(raw);
    } catch (e) {
      throw new DatasetFormatError(`${file}: corrupt gzip data (${(e as Error).message})`, file);
    }
  }
  if (bytes.length < 4) throw new DatasetFormatError(`${file}: truncated IDX file (${bytes.length} bytes)`, file);
  if (bytes[0] !== 0 || bytes[1] !== 0) {
    const magic = Array.from(bytes.subarray(0, 4), (b) => b.toString(16).padStart(2, '0')).join('');
    throw new DatasetFormatError(`${file}: not an IDX file (magic 0x${magic}, expected 0x000008nn)`, file);
  }
  if (bytes[2] !== UBYTE) {
    throw new DatasetFormatError(
      `${file}: IDX value type 0x${bytes[2].toString(16).padStart(2, '0')} is not supported (only 0x08, unsigned byte)`,
      file,
    );
  }
  const ndim = bytes[3];
  const headerSize = 4 + 4 * ndim;
  if (ndim === 0) throw new DatasetFormatError(`${file}: IDX file with zero dimensions`, file);
  if (bytes.length < headerSize) {
    throw new DatasetFormatError(`${file}: truncated IDX header (${bytes.length} of ${headerSize} bytes)`, file);
  }
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const dims: number[] = [];
  let count = 1;
  for (let i = 0; i < ndim; i++) {
    const d = view.getUint32(4 + 4 * i, false);
    dims.push(d);
    count *= d;
  }
  const have = bytes.length - headerSize;
  if (have < count) {
    throw new DatasetFormatError(
      `${file}: truncated IDX file: dimensions [${dims.join(', ')}] need ${count} bytes of data, found ${have}`,
      file,
    );
  }
  if (have > count) {
    throw new DatasetFormatError(
      `${file}: ${have - count} unexpected trailing bytes after the data of dimensions [${dims.join(', ')}]`,
      file,
    );
  }
  return { dims, data: bytes.subarray(headerSize) };
}

/** Read and parse one IDX file, checking its number of dimensions (3 for images, 1 for labels). */
export function readIdxFile(path: string, expectedNdim?: number): IdxArray {
  const arr = parseIdx(readFileSync(path), path);
  if (expectedNdim !== undefined && arr.dims.length !== expectedNdim) {
    const what =
      expectedNdim === 3 ? 'images (magic 0x00000803)' : expectedNdim === 1 ? 'labels (magic 0x00000801)' : '';
    throw new DatasetFormatError(
      `${path}: expected ${expectedNdim}-dimensional IDX ${what}, found ${arr.dims.length} dimensions`,
      path,
    );
  }
  return arr;
}

/** File names tried, in order, for e.g. prefix 'train', part 'images'. The first one is the canonical name. */
export function idxCandidates(prefix: 'train' | 't10k', part: 'images' | 'labels'): string[] {
  const tag = part === 'images' ? 'idx3' : 'idx1';
  const stem = `${prefix}-${part}`;
  return [`${stem}-${tag}-ubyte.gz`, `${stem}-${tag}-ubyte`, `${stem}.${tag}-ubyte`, `${stem}.${tag}-ubyte.gz`];
}

function findIdx(dir: string, prefix: 'train' | 't10k', part: 'images' | 'labels', dataset: string): string {
  const names = idxCandidates(prefix, part);
  for (const name of names) {
    const path = join(dir, name);
    if (existsSync(path)) return path;
  }
  throw new DatasetNotFoundError(
    `${dataset}: no ${prefix === 'train' ? 'training' : 'test'} ${part} in ${dir}: expected ${names[0]} ` +
      `(or ${names.slice(1).join(', ')})`,
    dir,
  );
}

export interface IdxDatasetOptions {
  name: string;
  dir: string;
  split: 'train' | 'test';
  classNames: readonly string[];
}

/** An image classification set stored as an IDX images file plus an IDX labels file (MNIST layout). */
export function openIdxDataset(opts: IdxDatasetOptions): Dataset {
  const prefix = opts.split === 'train' ? 'train' : 't10k';
  const imagesPath = findIdx(opts.dir, prefix, 'images', opts.name);
  const labelsPath = findIdx(opts.dir, prefix, 'labels', opts.name);
  const images = readIdxFile(imagesPath, 3);
  const labels = readIdxFile(labelsPath, 1);
  const [count, rows, cols] = images.dims;
  if (labels.dims[0] !== count) {
    throw new DatasetFormatError(
      `${opts.name}: ${imagesPath} holds ${count} images but ${labelsPath} holds ${labels.dims[0]} labels`,
      labelsPath,
    );
  }
  const numClasses = opts.classNames.length;
  for (let i = 0; i < count; i++) {
    if (labels.data[i] >= numClasses) {
      throw new DatasetFormatError(
        `${labelsPath}: label ${labels.data[i]} at index ${i} is out of range (${numClasses} classes)`,
        labelsPath,
      );
    }
  }
  const pixels = rows * cols;
  return {
    name: opts.name,
    size: count,
    shape: [rows, cols, 1],
    numClasses,
    classNames: opts.classNames,
    read(index: number, out: Float32Array, offset: number): number {
      checkIndex(index, count, opts.name);
      bytesToUnit(images.data, index * pixels, pixels, out, offset);
      return labels.data[index];
    },
  };
}
