/**
 * A sampler comparison: samplers x step counts (optionally x eta or x guidance), every cell started from the SAME
 * initial noise z (the per-sample Philox streams of the seed, initialNoise(seed, 0, n, dim), scaled by each cell's
 * own grid initScale). So the cells differ only by the sampler and its grid, and for analytic models each cell can
 * be scored against the exact answer:
 *
 * - deterministic cells (the probability-flow ODE): "true error" = mean over samples of ||x_j - ref_j||, where ref
 *   is the same ODE from the same z solved by Heun with REFERENCE_STEPS steps on the same kind of grid;
 * - stochastic cells (fresh noise every step; no per-sample target exists): the sliced Wasserstein-2 distance between
 *   the cell's samples and exact draws from the mixture (see sliced-wasserstein.ts). It is also recorded for
 *   deterministic cells, so the two kinds can be put side by side.
 *
 * The model behind the cells is a CellSource (analytic-source.ts, run-source.ts); this file only runs the grid,
 * scores it, and stores it: one comparisons row (spec, status, per-cell numbers) and one .npy per cell.
 */
import { mkdir } from 'node:fs/promises';
import { join } from 'node:path';
import { getSampler, type SamplerEntry } from '../core/samplers/index.ts';
import type { StepInfo, Vec } from '../core/types.ts';
import { writeNpy } from '../io/npy-file.ts';
import type { Store } from '../store/store.ts';
import type { JsonObject } from '../store/types.ts';
import { slicedWasserstein } from './sliced-wasserstein.ts';

/** One cell's sampler settings. */
export interface CellSpec {
  sampler: string;
  steps: number;
  /** Sampler options of the cell (eta when the comparison has an eta axis). */
  options: Record<string, number | string | boolean>;
  /** Classifier-free guidance scale (conditional runs). */
  guidance?: number;
}

export interface CellSample {
  /** n x dim values, sample-major. */
  samples: Vec;
  /** Model evaluations per sample. */
  nfe: number;
  /** x at the grid's first noise level divided by it: the z the cell started from. */
  initScale: number;
}

/** Per-step callback and abort signal of one cell's sampling. */
export interface SampleHooks {
  /** Called before each step's update (awaited); `first` is the index of the chunk's first sample. */
  onStep?: (info: StepInfo, first: number) => void | Promise<void>;
  signal?: AbortSignal;
}

/** What a comparison samples: an analytic mixture or a run's network. */
export interface CellSource {
  /** Per-sample shape: [D] or [H, W, C]. */
  shape: number[];
  /** A JSON description of the model for the stored spec and the provenance. */
  describe: JsonObject;
  sample(cell: CellSpec, n: number, seed: number, hooks?: SampleHooks): Promise<CellSample>;
  /** Analytic models only: the exact targets the cells are scored against. */
  truth?: {
    /** The probability-flow ODE from z = initialNoise(seed, 0, n, dim), solved to high accuracy. */
    reference(n: number, seed: number, hooks?: SampleHooks): Promise<CellSample & { sampler: string; steps: number }>;
    /** m exact draws from the data distribution. */
    exact(m: number, seed: number): Float64Array;
  };
  /** Rejects a step count the model cannot take (e.g. more steps than a discrete schedule has). */
  checkSteps?(steps: number): void;
}

export interface ComparisonSpec {
  name?: string;
  samplers: string[];
  steps: number[];
  /** Third axis: stochasticity of samplers that take an eta. */
  eta?: number[];
  /** Third axis: classifier-free guidance scales (conditional runs). */
  guidance?: number[];
  n: number;
  seed: number;
}

export type ErrorKind = 'ode' | 'swd';

export interface CellResult extends CellSpec {
  /** Row label (sampler and third-axis value) and column (steps). */
  row: string;
  deterministic: boolean;
  nfe: number;
  ms: number;
  /** The cell's "true error" (analytic models): ode for deterministic cells, swd for stochastic ones. */
  error: number | null;
  errorKind: ErrorKind | null;
  /** Sliced Wasserstein-2 distance to exact samples (analytic models), for every cell. */
  swd: number | null;
  /** The cell's samples, relative to the comparison folder. */
  file: string;
}

export interface ComparisonResult {
  id: string | null;
  folder: string | null;
  model: JsonObject;
  shape: number[];
  n: number;
  seed: number;
  rows: string[];
  steps: number[];
  cells: CellResult[];
  /** swd: the reference's own distance to the exact samples, the floor set by n (sampling noise), not the sampler. */
  reference: { sampler: string; steps: number; nfe: number; swd: number; file: string } | null;
  /** The samples of every cell, in `cells` order (not stored in the row; the .npy files hold them). */
  samples: Vec[];
}

/** Exact samples the swd is measured against: enough that their own sampling error stays small. */
export const EXACT_SAMPLES = 4096;

export interface RunComparisonOptions {
  /** With a folder: create a comparisons row, mark it running, then completed (or failed) with the numbers. */
  store?: Store;
  /** Parent folder; the cells go to <folder>/<comparison id>/ (or <folder>/comparison when there is no store). */
  folder?: string;
  /** The exact folder for the cells (a caller that keeps its own rows, e.g. the studio's compare worker). */
  dir?: string;
  /** cellIndex -1 is the reference solve of an analytic model. Awaited, so it may yield or throw. */
  onStep?: (cellIndex: number, info: StepInfo, first: number) => void | Promise<void>;
  /** Called after each cell, with its samples (awaited). */
  onCell?: (cell: CellResult, samples: Vec, index: number) => void | Promise<void>;
  /** Stops between model calls; the promise rejects with an AbortError. */
  signal?: AbortSignal;
}

/** The cells of a spec, row-major (rows: sampler x third axis, columns: steps). Throws on a bad spec. */
export function comparisonCells(spec: ComparisonSpec): { rows: string[]; cells: (CellSpec & { row: string })[] } {
  if (spec.samplers.length === 0) throw new RangeError('a comparison needs at least one sampler');
  if (spec.steps.length === 0) throw new RangeError('a comparison needs at least one step count');
  if (spec.eta && spec.guidance) throw new RangeError('a comparison has one third axis: eta or guidance, not both');
  for (const s of spec.steps)
    if (!Number.isInteger(s) || s < 1) throw new RangeError(`steps must be positive integers, got ${s}`);
  const rows: string[] = [];
  const cells: (CellSpec & { row: string })[] = [];
  for (const name of new Set(spec.samplers)) {
    const entry = getSampler(name);
    const variants: { label: string; options: CellSpec['options']; guidance?: number }[] = spec.eta
      ? spec.eta.map((eta) => {
          if (!('eta' in entry.defaults)) throw new RangeError(`sampler ${name} has no eta option`);
          return { label: `${name} eta=${eta}`, options: { eta } };
        })
      : spec.guidance
        ? spec.guidance.map((w) => ({ label: `${name} w=${w}`, options: {}, guidance: w }))
        : [{ label: name, options: {} }];
    for (const v of variants) {
      rows.push(v.label);
      for (const steps of spec.steps) {
        cells.push({
          row: v.label,
          sampler: name,
          steps,
          options: v.options,
          ...(v.guidance !== undefined ? { guidance: v.guidance } : {}),
        });
      }
    }
  }
  return { rows, cells };
}

/** Mean Euclidean distance between matching samples of two n x dim sets. */
export function meanDistance(a: Vec, b: Vec, dim: number): number {
  const n = a.length / dim;
  let total = 0;
  for (let j = 0; j < n; j++) {
    let d2 = 0;
    for (let d = 0; d < dim; d++) d2 += (a[j * dim + d] - b[j * dim + d]) ** 2;
    total += Math.sqrt(d2);
  }
  return total / n;
}

const cellFile = (i: number, c: CellSpec) =>
  `cell-${String(i).padStart(3, '0')}-${c.sampler}-${c.steps}` +
  `${c.options.eta !== undefined ? `-eta${c.options.eta}` : ''}${c.guidance !== undefined ? `-w${c.guidance}` : ''}.npy`;

/** What is stored in result_json: the numbers, not the arrays. */
export function resultJson(r: ComparisonResult): JsonObject {
  const { samples: _samples, ...rest } = r;
  return JSON.parse(JSON.stringify(rest)) as JsonObject;
}

export async function runComparison(
  spec: ComparisonSpec,
  source: CellSource,
  opts: RunComparisonOptions = {},
): Promise<ComparisonResult> {
  const { rows, cells } = comparisonCells(spec);
  for (const s of spec.steps) source.checkSteps?.(s);
  if (!Number.isInteger(spec.n) || spec.n < 1) throw new RangeError(`n must be a positive integer, got ${spec.n}`);
  const { n, seed } = spec;
  const dim = source.shape.reduce((a, b) => a * b, 1);
  const storedSpec = { ...spec, model: source.describe } as unknown as JsonObject;
  const row = opts.store?.createComparison({
    name: spec.name ?? `${spec.samplers.join(', ')} x ${spec.steps.join(', ')} steps`,
    spec: storedSpec,
    status: 'running',
  });
  const folder = opts.dir ?? (opts.folder ? join(opts.folder, row?.id ?? 'comparison') : null);
  try {
    if (folder) await mkdir(folder, { recursive: true });
    const save = async (file: string, data: Vec, shape: number[]) => {
      if (folder) await writeNpy(join(folder, file), data, shape);
    };
    const truth = source.truth;
    const hooks = (i: number): SampleHooks => ({
      ...(opts.onStep ? { onStep: (info: StepInfo, first: number) => opts.onStep!(i, info, first) } : {}),
      ...(opts.signal ? { signal: opts.signal } : {}),
    });
    const ref = truth ? await truth.reference(n, seed, hooks(-1)) : null;
    const exact = truth ? truth.exact(Math.max(n, EXACT_SAMPLES), seed) : null;
    if (ref) await save('reference.npy', ref.samples, [n, ...source.shape]);

    const results: CellResult[] = [];
    const samples: Vec[] = [];
    for (let i = 0; i < cells.length; i++) {
      const cell = cells[i];
      const entry: SamplerEntry = getSampler(cell.sampler);
      const started = performance.now();
      const out = await source.sample(cell, n, seed, hooks(i));
      const ms = performance.now() - started;
      if (!out.samples.every(Number.isFinite)) throw new Error(`${cell.row}, ${cell.steps} steps: NaN or Inf samples`);
      const deterministic = !entry.needsNoise(cell.options);
      const swd = exact ? slicedWasserstein(out.samples, exact, dim) : null;
      const ode = ref && deterministic ? meanDistance(out.samples, ref.samples, dim) : null;
      const file = cellFile(i, cell);
      await save(file, out.samples, [n, ...source.shape]);
      const result: CellResult = {
        ...cell,
        deterministic,
        nfe: out.nfe,
        ms,
        error: ode ?? swd,
        errorKind: ode !== null ? 'ode' : swd !== null ? 'swd' : null,
        swd,
        file,
      };
      results.push(result);
      samples.push(out.samples);
      await opts.onCell?.(result, out.samples, i);
    }
    const result: ComparisonResult = {
      id: row?.id ?? null,
      folder,
      model: source.describe,
      shape: source.shape,
      n,
      seed,
      rows,
      steps: [...spec.steps],
      cells: results,
      reference:
        ref && exact
          ? {
              sampler: ref.sampler,
              steps: ref.steps,
              nfe: ref.nfe,
              swd: slicedWasserstein(ref.samples, exact, dim),
              file: 'reference.npy',
            }
          : null,
      samples,
    };
    if (row) opts.store!.updateComparison(row.id, { status: 'completed', result: resultJson(result) });
    return result;
  } catch (e) {
    if (row) opts.store!.updateComparison(row.id, { status: 'failed', result: { error: (e as Error).message } });
    throw e;
  }
}
