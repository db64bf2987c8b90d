/**
 * Provenance of trajectory pictures (strip PNG, APNG, GIF): model or run and checkpoint, sampler and its options,
 * steps, seed, the noise levels and which steps are shown. PNGs carry it as tEXt chunks; every file also gets the
 * same record as a sidecar JSON beside it (`<file>.json`), GIFs having no text chunks.
 */
import { writeFile } from 'node:fs/promises';
import pkg from '../../package.json' with { type: 'json' };
import type { RunProvenance } from '../compare/provenance.ts';
import { addPngText, latin1Json } from './png-text.ts';

export interface TrajectoryProvenance {
  software: string;
  kind: 'trajectory-strip' | 'trajectory-animation';
  /** The --model spec (gmm:FILE) or the run's description. */
  model: unknown;
  run: RunProvenance | null;
  sampler: string;
  options: Record<string, unknown>;
  steps: number;
  seed: number;
  n: number;
  /** Samples drawn (image rows or animation tiles; all points for 2-D). */
  shown: number;
  sigmas: number[];
  /** The step indices shown: strip columns or animation frames. */
  shownSteps: number[];
  frameDelayMs?: number;
}

export const softwareName = () => `${pkg.name} ${pkg.version}`;

export function trajectoryText(p: TrajectoryProvenance): Record<string, string> {
  return {
    Software: p.software,
    kind: p.kind,
    model: latin1Json(p.model),
    ...(p.run
      ? {
          run: p.run.run,
          checkpoint: p.run.checkpoint ?? '',
          'checkpoint-sha256': p.run.checkpointSha256 ?? '',
          ema: String(p.run.ema),
        }
      : {}),
    sampler: p.sampler,
    options: latin1Json(p.options),
    steps: String(p.steps),
    seed: String(p.seed),
    sigmas: latin1Json(p.sigmas),
    'shown-steps': latin1Json(p.shownSteps),
  };
}

/** Writes the file (a plain PNG gets the tEXt chunks added here) and `<path>.json`; returns the sidecar's path. */
export async function writeWithTrajectoryProvenance(
  path: string,
  bytes: Uint8Array,
  p: TrajectoryProvenance,
  opts: { addText: boolean },
): Promise<string> {
  await writeFile(path, opts.addText ? addPngText(bytes, trajectoryText(p)) : bytes);
  const sidecar = `${path}.json`;
  await writeFile(sidecar, `${JSON.stringify(p, null, 2)}\n`);
  return sidecar;
}
