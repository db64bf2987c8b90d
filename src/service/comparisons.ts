/**
 * The studio's comparisons: start one in a compare worker through the shared JobRunner, keep its comparisons row
 * up to date as cells finish (so a cancelled or crashed one keeps what it finished), turn worker messages into
 * comparison-* events, and reopen, re-run and export stored ones. The worker writes the arrays (one folder per
 * comparison under the data directory); this class is the only writer of the rows.
 */
import { randomUUID } from 'node:crypto';
import { join } from 'node:path';
import type {
  ComparisonCellInfo,
  ComparisonEvent,
  ComparisonExport,
  ComparisonExportRequest,
  ComparisonHandle,
  ComparisonRequest,
  ComparisonSummary,
  ComparisonTrajectory,
  ComparisonView,
  SamplerName,
} from '../api/contract.ts';
import { COMPARISON_SHOWN } from '../api/contract.ts';
import { NotFoundError, serializeError, ValidationError } from '../api/errors.ts';
import type { CellResult, ComparisonResult } from '../compare/comparison.ts';
import { comparisonGridImages } from '../compare/grid-tiles.ts';
import { comparisonProvenance, provenanceText, type RunProvenance } from '../compare/provenance.ts';
import { readNpy } from '../io/npy-file.ts';
import { addPngText } from '../io/png-text.ts';
import type { Store } from '../store/store.ts';
import type { Comparison, JsonObject } from '../store/types.ts';
import type { CompareStart, FromCompareWorker, TrajectoryFiles } from '../worker/compare-messages.ts';
import { planComparison } from './comparison-request.ts';
import { writeExport, type ExportedFile } from './exports.ts';
import type { Job, JobOutcome, JobRunner } from './job-runner.ts';
import type { WorkerEntry } from './worker-entry.ts';

/** A trajectory keeps at most this many values (steps x samples x dim) and samples. */
const TRAJECTORY_VALUES = 400_000;
const TRAJECTORY_MAX_SAMPLES = 256;
/** Default and hard bounds of one exported PNG's side. */
const DEFAULT_MAX_SIDE = 8192;
const MIN_MAX_SIDE = 256;
/** Samples per model call of run comparisons. */
const MAX_MODEL_BATCH = 64;

/** A stored cell: the comparison's numbers plus where its trajectory lives. */
type StoredCell = CellResult & { index: number; trajectory: TrajectoryFiles };

/** result_json of a studio comparison. */
interface StoredResult {
  folder: string;
  model: JsonObject;
  run: RunProvenance | null;
  shape: number[];
  n: number;
  seed: number;
  rows: string[];
  steps: number[];
  cellsTotal: number;
  cells: StoredCell[];
  reference: (NonNullable<ComparisonView['reference']> & { file?: string }) | null;
  ms: number | null;
  error: string | null;
}

export interface ComparisonServiceOptions {
  store: Store;
  jobs: JobRunner;
  entry: WorkerEntry;
  /** Parent of the per-comparison folders. */
  folder: string;
  exportsDir: string;
  dbPath: string;
  runsDir: string;
  emit(event: ComparisonEvent): void;
}

const shownFor = (shape: number[], n: number) =>
  Math.min(n, shape.length === 3 ? COMPARISON_SHOWN.images : COMPARISON_SHOWN.points);

function cellInfo(c: StoredCell | (CellResult & { index: number })): ComparisonCellInfo {
  return {
    index: c.index,
    row: c.row,
    sampler: c.sampler as SamplerName,
    steps: c.steps,
    eta: typeof c.options.eta === 'number' ? c.options.eta : null,
    guidance: c.guidance ?? null,
    deterministic: c.deterministic,
    nfe: c.nfe,
    ms: c.ms,
    error: c.error,
    errorKind: c.errorKind,
    swd: c.swd,
  };
}

export class ComparisonService {
  constructor(private readonly o: ComparisonServiceOptions) {}

  async start(request: ComparisonRequest): Promise<ComparisonHandle> {
    const planned = await planComparison(this.o.store, request);
    const { spec } = planned;
    const row = this.o.store.createComparison({
      name: spec.name ?? `${spec.samplers.join(', ')} × ${spec.steps.join(', ')} steps (${planned.label})`,
      spec: { ...(JSON.parse(JSON.stringify(spec)) as JsonObject), request: planned.request as unknown as JsonObject },
      status: 'running',
    });
    const jobId = randomUUID();
    const dir = join(this.o.folder, row.id);
    const source =
      planned.source.kind === 'mixture'
        ? planned.source
        : { ...planned.source, dbPath: this.o.dbPath, runsDir: this.o.runsDir, maxModelBatch: MAX_MODEL_BATCH };
    const start: CompareStart = {
      type: 'start',
      jobId,
      comparisonId: row.id,
      spec,
      source,
      dir,
      shown: COMPARISON_SHOWN.points,
      trajectoryValues: TRAJECTORY_VALUES,
      trajectoryMaxSamples: TRAJECTORY_MAX_SAMPLES,
    };
    const state: StoredResult = {
      folder: dir,
      model: {},
      run: null,
      shape: [],
      n: spec.n,
      seed: spec.seed,
      rows: [],
      steps: spec.steps,
      cellsTotal: 0,
      cells: [],
      reference: null,
      ms: null,
      error: null,
    };
    const job: Job<FromCompareWorker, CompareStart> = {
      id: jobId,
      entry: this.o.entry,
      kind: 'compare',
      start,
      completedSteps: 0,
      message: (message) => this.#onMessage(jobId, row.id, state, message),
      ended: (outcome) => this.#ended(jobId, row.id, state, outcome),
    };
    this.o.jobs.submit(job);
    return { jobId, comparisonId: row.id };
  }

  list(): ComparisonSummary[] {
    return this.o.store.listComparisons().map((c) => {
      const spec = c.spec as unknown as { request?: ComparisonRequest; samplers?: string[]; steps?: number[] };
      const result = c.result as unknown as Partial<StoredResult> | null;
      const src = spec.request?.source;
      return {
        id: c.id,
        name: c.name,
        status: c.status,
        createdAt: c.createdAt,
        source: !src
          ? 'unknown'
          : src.kind === 'run'
            ? `run ${src.run}`
            : `mixture ${'preset' in src.mixture ? src.mixture.preset : 'inline'}`,
        samplers: spec.samplers ?? [],
        steps: spec.steps ?? [],
        cellsDone: result?.cells?.length ?? 0,
        cellsTotal: result?.cellsTotal ?? 0,
      };
    });
  }

  async open(id: string): Promise<ComparisonView> {
    const { row, result, request } = this.#stored(id);
    const shown = shownFor(result.shape, result.n);
    const dim = result.shape.reduce((a, b) => a * b, 1);
    const cells = await Promise.all(
      result.cells.map(async (c) => {
        const { data } = await readNpy(join(result.folder, c.file));
        return { ...cellInfo(c), samples: Array.from(data.subarray(0, shown * dim)) };
      }),
    );
    return {
      id: row.id,
      name: row.name,
      status: row.status,
      request,
      rows: result.rows,
      steps: result.steps,
      shape: result.shape,
      n: result.n,
      seed: result.seed,
      cellsTotal: result.cellsTotal,
      cells,
      shown,
      reference: result.reference
        ? {
            sampler: result.reference.sampler,
            steps: result.reference.steps,
            nfe: result.reference.nfe,
            swd: result.reference.swd,
          }
        : null,
      error: result.error,
    };
  }

  async trajectory(request: { id: string; cell: number }): Promise<ComparisonTrajectory> {
    if (!request || typeof request !== 'object') throw new ValidationError('the request must be { id, cell }');
    const { result } = this.#stored(request.id);
    const cell = result.cells.find((c) => c.index === request.cell);
    if (!cell) throw new NotFoundError(`comparison ${request.id} has no finished cell ${String(request.cell)}`);
    const t = cell.trajectory;
    const [x, x0, sigmas] = await Promise.all([t.x, t.x0, t.sigmas].map((file) => readNpy(join(result.folder, file))));
    return {
      comparisonId: request.id,
      cell: cell.index,
      shape: result.shape,
      count: t.count,
      sigmas: Array.from(sigmas.data),
      x: Array.from(x.data),
      x0: Array.from(x0.data),
    };
  }

  async rerun(id: string): Promise<ComparisonHandle> {
    const row = this.#row(id);
    const request = (row.spec as { request?: unknown }).request;
    if (!request) throw new ValidationError(`comparison ${id} was not made in the studio; it has no request to re-run`);
    return this.start(request as ComparisonRequest);
  }

  async exportGrid(request: ComparisonExportRequest): Promise<ComparisonExport> {
    if (!request || typeof request !== 'object') throw new ValidationError('the request must be { id, maxSide? }');
    const maxSide = request.maxSide ?? DEFAULT_MAX_SIDE;
    if (!Number.isInteger(maxSide) || maxSide < MIN_MAX_SIDE || maxSide > 32768) {
      throw new ValidationError(`maxSide must be an integer in ${MIN_MAX_SIDE}..32768`);
    }
    const { row, result } = this.#stored(request.id);
    if (result.cells.length === 0) throw new ValidationError(`comparison ${row.id} has no finished cells to export`);
    const s = result.shape;
    if (!(s.length === 3 || (s.length === 1 && s[0] === 2))) {
      throw new ValidationError(`a grid draws images or 2-D points; these samples have shape [${s.join(', ')}]`);
    }
    const samples = await Promise.all(
      result.cells.map(async (c) => Float64Array.from((await readNpy(join(result.folder, c.file))).data)),
    );
    const full: ComparisonResult = {
      id: row.id,
      folder: result.folder,
      model: result.model,
      shape: result.shape,
      n: result.n,
      seed: result.seed,
      rows: result.rows,
      steps: result.steps,
      cells: result.cells,
      reference: null,
      samples,
    };
    // n and seed first: a long name is cut to the image's width.
    const title = `n = ${result.n}, seed ${result.seed} · ${row.name}`;
    let grid: Awaited<ReturnType<typeof comparisonGridImages>>;
    try {
      grid = await comparisonGridImages(full, maxSide, { title });
    } catch (e) {
      if (e instanceof RangeError) throw new ValidationError(e.message);
      throw e;
    }
    const tiled = grid.images.length > 1;
    const base = `comparison-${row.id}`;
    const files: ExportedFile[] = [];
    for (const [k, image] of grid.images.entries()) {
      const provenance = comparisonProvenance(image.result, result.run);
      const text = { ...provenanceText(provenance), ...(tiled ? { tile: `${k + 1}/${grid.images.length}` } : {}) };
      const name = tiled ? `${base}-tile-${String(k + 1).padStart(2, '0')}` : base;
      files.push(await writeExport(this.o.exportsDir, name, 'png', addPngText(image.png, text)));
    }
    const sidecar = {
      ...comparisonProvenance(full, result.run),
      grid: { rows: result.rows, steps: result.steps, width: grid.width, height: grid.height, maxSide },
      tiles: grid.images.map((image, k) => ({
        file: files[k].name,
        rows: image.result.rows,
        steps: image.result.steps,
        rowRange: image.block.rows,
        colRange: image.block.cols,
        width: image.width,
        height: image.height,
      })),
    };
    const first = files[0].name.replace(/\.png$/, '');
    files.push(
      await writeExport(
        this.o.exportsDir,
        tiled ? `${base}-tiles` : first,
        'png.json',
        new TextEncoder().encode(`${JSON.stringify(sidecar, null, 2)}\n`),
      ),
    );
    return { files, tiles: grid.images.length };
  }

  #row(id: unknown): Comparison {
    if (typeof id !== 'string') throw new ValidationError('the comparison id must be a string');
    const row = this.o.store.getComparison(id);
    if (!row) throw new NotFoundError(`no comparison ${id}`);
    return row;
  }

  #stored(id: unknown): { row: Comparison; result: StoredResult; request: ComparisonRequest } {
    const row = this.#row(id);
    const result = row.result as unknown as StoredResult | null;
    const request = (row.spec as { request?: ComparisonRequest }).request;
    if (!request || !result || !Array.isArray(result.cells) || !result.folder) {
      throw new ValidationError(`comparison ${row.id} was not made in the studio (no stored cells to open)`);
    }
    return { row, result, request };
  }

  #save(id: string, state: StoredResult, status?: Comparison['status']): void {
    this.o.store.updateComparison(id, {
      ...(status ? { status } : {}),
      result: JSON.parse(JSON.stringify(state)) as JsonObject,
    });
  }

  #onMessage(jobId: string, comparisonId: string, state: StoredResult, m: FromCompareWorker): void {
    const base = { jobId, comparisonId };
    switch (m.type) {
      case 'started':
        Object.assign(state, {
          shape: m.shape,
          rows: m.rows,
          steps: m.steps,
          cellsTotal: m.cellsTotal,
          model: m.model,
          run: m.run,
        });
        this.#save(comparisonId, state);
        this.o.emit({
          type: 'comparison-started',
          ...base,
          rows: m.rows,
          steps: m.steps,
          shape: m.shape,
          n: state.n,
          shown: shownFor(m.shape, state.n),
          cellsTotal: m.cellsTotal,
          threadId: m.threadId,
        });
        return;
      case 'step':
        this.o.emit({ type: 'comparison-step', ...base, cell: m.cell, i: m.cellStep, steps: m.steps });
        return;
      case 'cell': {
        const cell: StoredCell = { ...m.cell, index: m.index, trajectory: m.trajectory };
        state.cells.push(cell);
        this.#save(comparisonId, state);
        const dim = state.shape.reduce((a, b) => a * b, 1);
        const samples = m.samples.subarray(0, shownFor(state.shape, state.n) * dim);
        this.o.emit({ type: 'comparison-cell', ...base, cell: cellInfo(cell), samples });
        return;
      }
      case 'done': {
        const final = m.result as unknown as ComparisonResult;
        state.reference = final.reference;
        state.ms = m.ms;
        this.#save(comparisonId, state, 'completed');
        const reference = state.reference
          ? {
              sampler: state.reference.sampler,
              steps: state.reference.steps,
              nfe: state.reference.nfe,
              swd: state.reference.swd,
            }
          : null;
        this.o.emit({ type: 'comparison-done', ...base, ms: m.ms, reference });
        return;
      }
      case 'cancelled':
        this.#save(comparisonId, state, 'cancelled');
        this.o.emit({ type: 'comparison-cancelled', ...base, cellsDone: state.cells.length });
        return;
      case 'error':
        state.error = m.error.message;
        this.#save(comparisonId, state, 'failed');
        this.o.emit({ type: 'comparison-error', ...base, error: { name: m.error.name, message: m.error.message } });
        return;
    }
  }

  /** The job ended without the worker's final message (queued cancel, crash, or a cancel that had to terminate). */
  #ended(jobId: string, comparisonId: string, state: StoredResult, outcome: JobOutcome): void {
    const base = { jobId, comparisonId };
    if (outcome.cancelled) {
      this.#save(comparisonId, state, 'cancelled');
      this.o.emit({ type: 'comparison-cancelled', ...base, cellsDone: state.cells.length });
      return;
    }
    const error = serializeError(outcome.error);
    state.error = error.message;
    this.#save(comparisonId, state, 'failed');
    this.o.emit({ type: 'comparison-error', ...base, error: { name: error.name, message: error.message } });
  }
}
