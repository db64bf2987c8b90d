/**
 * Provenance of a comparison grid PNG: what made every cell (model or run and checkpoint hash, sampler, steps, eta,
 * guidance, seed) and which software, as PNG tEXt chunks inside the image and the same record in a sidecar JSON
 * beside it (`<file>.json`), for tools that do not read PNG text.
 */
import { writeFile } from 'node:fs/promises';
import pkg from '../../package.json' with { type: 'json' };
import { addPngText, latin1Json } from '../io/png-text.ts';
import type { ComparisonResult } from './comparison.ts';

export interface RunProvenance {
  run: string;
  checkpoint: string | null;
  checkpointSha256: string | null;
  step: number | null;
  ema: boolean;
}

export interface ComparisonProvenance {
  software: string;
  comparison: string | null;
  model: unknown;
  run: RunProvenance | null;
  seed: number;
  n: number;
  cells: { sampler: string; steps: number; eta: number | null; guidance: number | null; seed: number; nfe: number }[];
}

export function comparisonProvenance(result: ComparisonResult, run: RunProvenance | null = null): ComparisonProvenance {
  return {
    software: `${pkg.name} ${pkg.version}`,
    comparison: result.id,
    model: result.model,
    run,
    seed: result.seed,
    n: result.n,
    cells: result.cells.map((c) => ({
      sampler: c.sampler,
      steps: c.steps,
      eta: typeof c.options.eta === 'number' ? c.options.eta : null,
      guidance: c.guidance ?? null,
      seed: result.seed,
      nfe: c.nfe,
    })),
  };
}

/** tEXt keyword -> value: 'Software' (the PNG-registered keyword) plus one JSON value per field. */
export function provenanceText(p: ComparisonProvenance): Record<string, string> {
  return {
    Software: p.software,
    ...(p.comparison ? { comparison: p.comparison } : {}),
    model: latin1Json(p.model),
    ...(p.run
      ? {
          run: p.run.run,
          checkpoint: p.run.checkpoint ?? '',
          'checkpoint-sha256': p.run.checkpointSha256 ?? '',
          ema: String(p.run.ema),
        }
      : {}),
    seed: String(p.seed),
    cells: latin1Json(p.cells),
  };
}

/** Writes the PNG with its provenance chunks and `<path>.json` beside it; returns the sidecar's path. */
export async function writePngWithProvenance(path: string, png: Uint8Array, p: ComparisonProvenance): Promise<string> {
  await writeFile(path, addPngText(png, provenanceText(p)));
  const sidecar = `${path}.json`;
  await writeFile(sidecar, `${JSON.stringify(p, null, 2)}\n`);
  return sidecar;
}
