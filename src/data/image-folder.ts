/**
 * A folder of images (PNG, JPEG, WebP) as a dataset, decoded with sharp.
 *
 * - Files are found recursively and sorted by their relative path (code-unit order, '/' separators), so the index
 *   of every image is the same on every machine. Hidden entries (names starting with '.') are ignored; symlinked
 *   files are followed, symlinked folders are not (no cycles).
 * - Labels: when the top folder has subfolders holding images, each first-level subfolder is a class (class names
 *   sorted, index = position); images directly in the top folder are then skipped as "not inside a class folder".
 *   Without such subfolders the set is unlabeled.
 * - Each image is auto-oriented (EXIF), scaled to cover imageSize x imageSize and centre-cropped (sharp 'cover' +
 *   'centre'), alpha is flattened onto WHITE (transparent sprites and icons usually sit on white), and converted to
 *   1 channel (luminance) or 3 (sRGB).
 * - Everything is decoded at open time and kept in memory as uint8 (size * imageSize^2 * channels bytes, at most
 *   MAX_FOLDER_BYTES = 1 GiB, e.g. 100k images at 64x64x3 = 1.2 GB is too many; 10k at 32x32x3 = 31 MB is fine).
 *   This is meant for small folders; big sets belong in a packed format.
 * - A file sharp cannot decode (corrupt, truncated, not really an image) is skipped and listed in `skipped` with
 *   the reason; it never aborts the open. An empty folder, or one where nothing decodes, is an error.
 */
import { readdir, stat } from 'node:fs/promises';
import { extname, join } from 'node:path';
import sharp from 'sharp';
import { bytesToUnit, checkIndex } from './bytes.ts';
import type { Dataset, SkippedFile } from './dataset.ts';
import { DatasetError, DatasetFormatError, DatasetNotFoundError } from './errors.ts';

export const IMAGE_EXTENSIONS: readonly string[] = ['.png', '.jpg', '.jpeg', '.webp'];
export const MAX_FOLDER_BYTES = 1 << 30;
export const DEFAULT_IMAGE_SIZE = 32;
/** Decodes in flight at once; sharp runs them on libuv's thread pool (4 threads by default). */
const DECODE_CONCURRENCY = 4;

export interface ImageFolderOptions {
  /** Side of the square output in pixels (default 32). */
  imageSize?: number;
  /** 1 (grayscale) or 3 (RGB, default). */
  channels?: 1 | 3;
  /** Called after each decoded (or skipped) file. */
  onProgress?: (done: number, total: number) => void;
}

interface Candidate {
  path: string;
  /** Relative path with '/' separators: the sort key. */
  rel: string;
  /** First-level folder, or '' for files in the top folder. */
  top: string;
}

function isImageName(name: string): boolean {
  return IMAGE_EXTENSIONS.includes(extname(name).toLowerCase());
}

async function walk(dir: string, rel: string, top: string, out: Candidate[]): Promise<void> {
  const entries = await readdir(dir, { withFileTypes: true });
  for (const e of entries) {
    if (e.name.startsWith('.')) continue;
    const path = join(dir, e.name);
    const r = rel ? `${rel}/${e.name}` : e.name;
    if (e.isDirectory()) {
      await walk(path, r, top || e.name, out);
    } else if (isImageName(e.name)) {
      // A dangling symlink is kept so that it shows up in `skipped` rather than vanishing.
      const linkedDir = e.isSymbolicLink() && (await stat(path).catch(() => null))?.isDirectory() === true;
      if (!linkedDir) out.push({ path, rel: r, top });
    }
  }
}

/** Decode one image to imageSize^2 * channels bytes (HWC). Throws whatever sharp throws for unreadable files. */
export async function decodeImageFile(path: string, imageSize: number, channels: 1 | 3): Promise<Uint8Array> {
  let img = sharp(path)
    .autoOrient()
    .resize(imageSize, imageSize, { fit: 'cover', position: 'centre' })
    .flatten({ background: '#ffffff' });
  img = channels === 1 ? img.grayscale() : img.toColourspace('srgb');
  const { data, info } = await img.raw({ depth: 'uchar' }).toBuffer({ resolveWithObject: true });
  if (info.width !== imageSize || info.height !== imageSize || info.channels !== channels) {
    throw new Error(
      `decoded to ${info.width}x${info.height}x${info.channels}, expected ${imageSize}x${imageSize}x${channels}`,
    );
  }
  return new Uint8Array(data.buffer, data.byteOffset, data.byteLength);
}

/** libvips repeats its warnings over several lines; the first says what went wrong. */
function firstLine(message: string): string {
  return message.split('\n').find((l) => l.trim() !== '') ?? 'unreadable';
}

export async function openImageFolder(dir: string, opts: ImageFolderOptions = {}): Promise<Dataset> {
  const imageSize = opts.imageSize ?? DEFAULT_IMAGE_SIZE;
  const channels = opts.channels ?? 3;
  if (!Number.isInteger(imageSize) || imageSize < 1 || imageSize > 4096) {
    throw new RangeError(`folder: imageSize must be an integer in 1..4096, got ${imageSize}`);
  }
  if (channels !== 1 && channels !== 3) throw new RangeError(`folder: channels must be 1 or 3, got ${channels}`);
  const info = await stat(dir).catch(() => null);
  if (!info?.isDirectory()) throw new DatasetNotFoundError(`folder: ${dir} is not a folder`, dir);

  const found: Candidate[] = [];
  await walk(dir, '', '', found);
  found.sort((a, b) => (a.rel < b.rel ? -1 : a.rel > b.rel ? 1 : 0));
  if (found.length === 0) {
    throw new DatasetNotFoundError(`folder: no ${IMAGE_EXTENSIONS.join('/')} images in ${dir}`, dir);
  }

  const classNames = [...new Set(found.map((c) => c.top).filter((t) => t !== ''))].sort((a, b) =>
    a < b ? -1 : a > b ? 1 : 0,
  );
  const labeled = classNames.length > 0;
  const skipped: SkippedFile[] = [];
  const usable = labeled ? found.filter((c) => c.top !== '') : found;
  if (labeled) {
    for (const c of found) if (c.top === '') skipped.push({ path: c.path, reason: 'not inside a class folder' });
  }

  const perImage = imageSize * imageSize * channels;
  if (usable.length * perImage > MAX_FOLDER_BYTES) {
    throw new DatasetError(
      `folder: ${usable.length} images of ${imageSize}x${imageSize}x${channels} in ${dir} need ` +
        `${(usable.length * perImage) / 2 ** 20} MiB decoded, over the ${MAX_FOLDER_BYTES / 2 ** 20} MiB in-memory limit`,
      dir,
    );
  }

  // Decode with bounded concurrency; results land at their sorted index, so order never depends on timing.
  const decoded: (Uint8Array | null)[] = new Array(usable.length).fill(null);
  const errors: (string | null)[] = new Array(usable.length).fill(null);
  let next = 0;
  let done = 0;
  const worker = async (): Promise<void> => {
    while (next < usable.length) {
      const i = next++;
      try {
        decoded[i] = await decodeImageFile(usable[i].path, imageSize, channels);
      } catch (e) {
        errors[i] = firstLine(e instanceof Error ? e.message : String(e));
      }
      opts.onProgress?.(++done, usable.length);
    }
  };
  await Promise.all(Array.from({ length: Math.min(DECODE_CONCURRENCY, usable.length) }, worker));

  const keep: number[] = [];
  for (let i = 0; i < usable.length; i++) {
    if (decoded[i]) keep.push(i);
    else skipped.push({ path: usable[i].path, reason: errors[i] ?? 'unreadable' });
  }
  skipped.sort((a, b) => (a.path < b.path ? -1 : a.path > b.path ? 1 : 0));
  if (keep.length === 0) {
    const first = skipped[0];
    throw new DatasetFormatError(
      `folder: none of the ${found.length} images in ${dir} could be read (first: ${first.path}: ${first.reason})`,
      dir,
    );
  }

  const size = keep.length;
  const pixels = new Uint8Array(size * perImage);
  const labels = new Int32Array(size).fill(-1);
  keep.forEach((i, k) => {
    pixels.set(decoded[i]!, k * perImage);
    if (labeled) labels[k] = classNames.indexOf(usable[i].top);
  });
  const name = `folder:${dir}`;
  return {
    name,
    size,
    shape: [imageSize, imageSize, channels],
    numClasses: classNames.length,
    ...(labeled ? { classNames } : {}),
    skipped,
    read(index: number, out: Float32Array, offset: number): number {
      checkIndex(index, size, name);
      bytesToUnit(pixels, index * perImage, perImage, out, offset);
      return labels[index];
    },
  };
}
