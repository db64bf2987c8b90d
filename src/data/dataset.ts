/**
 * The dataset contract shared by the trainer, the UI and the CLI, and `openDataset`, the one entry point that
 * turns a serializable spec (stored with a run) into a Dataset.
 *
 * Conventions: images are channels last, [H, W, C] (the project's in-memory image layout), scaled to [-1, 1] as
 * x / 127.5 - 1; 2-D toy points are [2] vectors of about unit variance. Example i is always the same example: every
 * loader sorts or fixes its order, so a (seed, position) pair in a checkpoint names the same future batches.
 */
import { openCifar10 } from './cifar10.ts';
import { DatasetNotFoundError } from './errors.ts';
import { openIdxDataset } from './idx.ts';
import { openImageFolder } from './image-folder.ts';
import { DEFAULT_TOY_SIZE, TOY_NAMES, isToyName, openToy, type ToyName } from './toy2d.ts';

export interface SkippedFile {
  path: string;
  reason: string;
}

export interface Dataset {
  readonly name: string;
  /** Number of examples. */
  readonly size: number;
  /** Per example: [H, W, C] for images, [D] for vectors. */
  readonly shape: readonly number[];
  /** 0 if unlabeled. */
  readonly numClasses: number;
  readonly classNames?: readonly string[];
  /** Files found but left out (image folders), with the reason. */
  readonly skipped?: readonly SkippedFile[];
  /** Write example `index` to out[offset .. offset + prod(shape)); returns its label, or -1 if unlabeled. */
  read(index: number, out: Float32Array, offset: number): number;
}

export type DatasetKind = 'fashion-mnist' | 'mnist' | 'cifar10' | 'folder' | 'toy';

export interface DatasetSpec {
  kind: DatasetKind;
  /** Where the files are. Required for mnist, cifar10 and folder; fashion-mnist defaults to FASHION_MNIST_DIR. */
  dir?: string;
  /** Default 'train'. Ignored by folder and toy. */
  split?: 'train' | 'test';
  /** folder: side of the square images after centre-crop and resize (default 32). */
  imageSize?: number;
  /** folder: 1 (grayscale) or 3 (RGB, default). */
  channels?: 1 | 3;
  /** toy: which set. */
  toy?: ToyName;
  /** toy: number of points (default 10,000). */
  toySize?: number;
  /** toy: generation seed (default 0). The data is fixed by it; shuffling uses the run's seed instead. */
  toySeed?: number;
}

export interface OpenDatasetOptions {
  /** folder: progress of the decode at open time. */
  onProgress?: (done: number, total: number) => void;
}

/** Where Debian's dataset-fashion-mnist package installs the IDX files. */
export const FASHION_MNIST_DIR = '/usr/share/datasets/fashion-mnist';

export const FASHION_MNIST_CLASSES: readonly string[] = [
  'T-shirt/top',
  'Trouser',
  'Pullover',
  'Dress',
  'Coat',
  'Sandal',
  'Shirt',
  'Sneaker',
  'Bag',
  'Ankle boot',
];

export const MNIST_CLASSES: readonly string[] = ['0', '1', '2', '3', '4', '5', '6', '7', '8', '9'];

function requireDir(spec: DatasetSpec, expected: string): string {
  if (!spec.dir)
    throw new DatasetNotFoundError(`${spec.kind}: no dir given; it should be a folder holding ${expected}`);
  return spec.dir;
}

export async function openDataset(spec: DatasetSpec, options: OpenDatasetOptions = {}): Promise<Dataset> {
  const split = spec.split ?? 'train';
  if (split !== 'train' && split !== 'test') throw new RangeError(`unknown split '${String(split)}'`);
  switch (spec.kind) {
    case 'fashion-mnist':
      return openIdxDataset({
        name: 'fashion-mnist',
        dir: spec.dir ?? FASHION_MNIST_DIR,
        split,
        classNames: FASHION_MNIST_CLASSES,
      });
    case 'mnist':
      return openIdxDataset({
        name: 'mnist',
        dir: requireDir(spec, 'train-images-idx3-ubyte(.gz), train-labels-idx1-ubyte(.gz), t10k-*'),
        split,
        classNames: MNIST_CLASSES,
      });
    case 'cifar10':
      return openCifar10(requireDir(spec, 'data_batch_1..5.bin and test_batch.bin (CIFAR-10 binary version)'), split);
    case 'folder':
      return openImageFolder(requireDir(spec, 'PNG/JPEG/WebP images, optionally in one subfolder per class'), {
        imageSize: spec.imageSize,
        channels: spec.channels,
        onProgress: options.onProgress,
      });
    case 'toy': {
      const name = spec.toy ?? '';
      if (!isToyName(name)) throw new RangeError(`unknown toy set '${name}' (known: ${TOY_NAMES.join(', ')})`);
      return openToy(name, spec.toySize ?? DEFAULT_TOY_SIZE, spec.toySeed ?? 0);
    }
    default:
      throw new RangeError(`unknown dataset kind '${String((spec as { kind: unknown }).kind)}'`);
  }
}

/** Values per example: prod(shape). */
export function exampleSize(dataset: Pick<Dataset, 'shape'>): number {
  return dataset.shape.reduce((a, b) => a * b, 1);
}
