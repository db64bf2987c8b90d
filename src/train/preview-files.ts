/**
 * Preview samples kept on disk, one .npy per checkpoint step in the run's folder (`<runDir>/previews/`), so a run's
 * film strip (the same fixed noise at every checkpoint) survives restarts. Arrays are float32 [count, ...shape]:
 * [count, H, W, C] images in [-1, 1], or [count, 2] toy points. Writes are atomic (npy-file.ts).
 */
import { mkdir, readdir } from 'node:fs/promises';
import { join } from 'node:path';
import { readNpy, writeNpy } from '../io/npy-file.ts';

export interface StoredPreview {
  step: number;
  count: number;
  /** One sample's shape. */
  shape: number[];
  samples: Float32Array;
}

const FILE = /^preview-(\d{8,})\.npy$/;

export function previewsDir(runDir: string): string {
  return join(runDir, 'previews');
}

export function previewFileName(step: number): string {
  return `preview-${String(step).padStart(8, '0')}.npy`;
}

export async function savePreview(
  runDir: string,
  preview: { step: number; samples: Float32Array; count: number },
  shape: readonly number[],
): Promise<string> {
  const dir = previewsDir(runDir);
  await mkdir(dir, { recursive: true });
  const path = join(dir, previewFileName(preview.step));
  await writeNpy(path, preview.samples, [preview.count, ...shape]);
  return path;
}

/** Steps that have a stored preview, ascending; none when the folder does not exist. */
export async function previewSteps(runDir: string): Promise<number[]> {
  let names: string[];
  try {
    names = await readdir(previewsDir(runDir));
  } catch {
    return [];
  }
  return names
    .map((n) => FILE.exec(n))
    .filter((m): m is RegExpExecArray => m !== null)
    .map((m) => Number(m[1]))
    .sort((a, b) => a - b);
}

export async function readPreview(runDir: string, step: number): Promise<StoredPreview> {
  const array = await readNpy(join(previewsDir(runDir), previewFileName(step)));
  if (!(array.data instanceof Float32Array) || array.shape.length < 2) {
    throw new Error(`preview at step ${step} is not a float32 [count, ...shape] array`);
  }
  return { step, count: array.shape[0], shape: array.shape.slice(1), samples: array.data };
}
