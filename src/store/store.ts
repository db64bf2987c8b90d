/**
 * The typed repository over the studio's SQLite database.
 *
 * One writer: exactly one Store opened read-write exists per database, owned by the service layer in the main
 * (Electron) or server (Node) process. Worker threads never write; they send results (metrics batches, checkpoint
 * records, sample sets) to the service as messages and the service writes them here. That keeps every write on one
 * connection in one order, with no SQLITE_BUSY retries, while WAL lets readers (a worker opening the file with
 * `openStore(path, { readonly: true })`) read concurrently without blocking the writer.
 *
 * All statements are prepared once. Methods are synchronous (better-sqlite3); batch writes such as appendMetrics
 * run in one transaction, which is what makes them fast.
 */
import type Database from 'better-sqlite3';
import { newId } from './ids.ts';
import { objectToJson, valueToJson } from './json.ts';
import { schemaVersion } from './migrations.ts';
import { prepareStatements, type Statements } from './statements.ts';
import {
  toCheckpoint,
  toComparison,
  toRun,
  toRunSummary,
  toSampleSet,
  type CheckpointRow,
  type ComparisonRow,
  type RunRow,
  type SampleSetRow,
} from './rows.ts';
import {
  COMPARISON_STATUSES,
  RUN_KINDS,
  RUN_STATUSES,
  type Checkpoint,
  type Comparison,
  type ComparisonUpdate,
  type DeletedRun,
  type JsonObject,
  type MetricPoint,
  type MetricRow,
  type NewCheckpoint,
  type NewComparison,
  type NewRun,
  type NewSampleSet,
  type Run,
  type RunKind,
  type RunStatus,
  type RunSummary,
  type SampleSet,
} from './types.ts';
import { optionalText, realOrNull, requireInt, requireOneOf, requireText } from './validate.ts';

export interface StoreInfo {
  /** Absolute file path, or ':memory:'. */
  path: string;
  readonly: boolean;
  /** Clock for created_at/updated_at (epoch ms); injectable for tests. */
  now?: () => number;
}

export interface RunFilter {
  kind?: RunKind;
  status?: RunStatus;
}

export interface SampleSetFilter {
  runId?: string;
  checkpointId?: string;
  /** Only sample sets that kept their trajectory. */
  withTrajectory?: boolean;
}

function sqliteCode(err: unknown): string | undefined {
  return (err as { code?: unknown }).code as string | undefined;
}

export class Store {
  readonly path: string;
  readonly readonly: boolean;
  readonly #db: Database.Database;
  readonly #now: () => number;
  readonly #s: Statements;

  constructor(db: Database.Database, info: StoreInfo) {
    this.#db = db;
    this.path = info.path;
    this.readonly = info.readonly;
    this.#now = info.now ?? Date.now;
    this.#s = prepareStatements(db);
  }

  get schemaVersion(): number {
    return schemaVersion(this.#db);
  }

  /** Runs fn in one transaction (a savepoint when nested). fn must be synchronous. */
  transaction<T>(fn: () => T): T {
    return this.#db.transaction(fn)();
  }

  close(): void {
    if (!this.#db.open) return;
    // Lets SQLite refresh query-planner statistics it found missing; cheap, and recommended before closing.
    if (!this.readonly) this.#db.pragma('optimize');
    this.#db.close();
  }

  // ---- runs ----

  createRun(input: NewRun): Run {
    const id = input.id === undefined ? newId('r') : requireText(input.id, 'run id');
    try {
      this.#s.insertRun.run({
        id,
        name: requireText(input.name, 'run name'),
        kind: requireOneOf(input.kind, RUN_KINDS, 'run kind'),
        status: requireOneOf(input.status ?? 'created', RUN_STATUSES, 'run status'),
        config_json: objectToJson(input.config, 'run config'),
        dataset: optionalText(input.dataset, 'run dataset'),
        preset: optionalText(input.preset, 'run preset'),
        engine: optionalText(input.engine, 'run engine'),
        parent_run_id: optionalText(input.parentRunId, 'parent run id'),
        parent_checkpoint_id: optionalText(input.parentCheckpointId, 'parent checkpoint id'),
        notes: optionalText(input.notes, 'run notes') ?? '',
        now: this.#now(),
      });
    } catch (err) {
      if (sqliteCode(err) === 'SQLITE_CONSTRAINT_PRIMARYKEY') throw new Error(`A run with id ${id} already exists`);
      if (sqliteCode(err) === 'SQLITE_CONSTRAINT_FOREIGNKEY') {
        throw new Error(
          `Cannot create run ${id}: parent run ${input.parentRunId ?? '-'} or parent checkpoint ` +
            `${input.parentCheckpointId ?? '-'} does not exist`,
        );
      }
      throw err;
    }
    return this.#requireRun(id);
  }

  getRun(id: string): Run | undefined {
    const row = this.#s.getRun.get(id) as RunRow | undefined;
    return row && toRun(row);
  }

  /** Pinned first, then newest first; each with its checkpoint count (last step and loss are on the run). */
  listRuns(filter: RunFilter = {}): RunSummary[] {
    const rows = this.#s.listRuns.all({
      kind: filter.kind ?? null,
      status: filter.status ?? null,
    });
    return (rows as (RunRow & { checkpoint_count: number })[]).map(toRunSummary);
  }

  /** Sets the status; `error` is stored with it (and cleared when omitted, e.g. when a failed run resumes). */
  updateRunStatus(id: string, status: RunStatus, error: string | null = null): Run {
    requireOneOf(status, RUN_STATUSES, 'run status');
    this.#changeRun(this.#s.setRunStatus.run(status, optionalText(error, 'run error'), this.#now(), id), id);
    return this.#requireRun(id);
  }

  /** The training hot path: no row is read back. A NaN loss is stored as null. */
  updateRunProgress(id: string, lastStep: number, lastLoss: number | null): void {
    const info = this.#s.setRunProgress.run(
      requireInt(lastStep, 'last step'),
      realOrNull(lastLoss, 'last loss'),
      this.#now(),
      id,
    );
    this.#changeRun(info, id);
  }

  /** The engine and backend that actually ran (e.g. tfjs-wasm), known only once a backend was chosen. */
  setRunEngine(id: string, engine: string): Run {
    this.#changeRun(this.#s.setRunEngine.run(requireText(engine, 'run engine'), this.#now(), id), id);
    return this.#requireRun(id);
  }

  /** Replaces a run's config (e.g. `resume --steps` extending a run). */
  updateRunConfig(id: string, config: JsonObject): Run {
    this.#changeRun(this.#s.setRunConfig.run(objectToJson(config, 'run config'), this.#now(), id), id);
    return this.#requireRun(id);
  }

  renameRun(id: string, name: string): Run {
    this.#changeRun(this.#s.setRunName.run(requireText(name, 'run name'), this.#now(), id), id);
    return this.#requireRun(id);
  }

  setRunNotes(id: string, notes: string): Run {
    this.#changeRun(this.#s.setRunNotes.run(optionalText(notes, 'run notes') ?? '', this.#now(), id), id);
    return this.#requireRun(id);
  }

  pinRun(id: string, pinned = true): Run {
    this.#changeRun(this.#s.setRunPinned.run(pinned ? 1 : 0, this.#now(), id), id);
    return this.#requireRun(id);
  }

  /**
   * Deletes the run with its checkpoints, metrics and sample sets (ON DELETE CASCADE). Returns the files those
   * rows pointed to, for the caller to delete, or undefined when there was no such run.
   */
  deleteRun(id: string): DeletedRun | undefined {
    return this.transaction(() => {
      const checkpointPaths = this.#s.runCheckpointPaths.all(id) as string[];
      const sampleSetPaths = this.#s.runSampleSetPaths.all(id) as string[];
      const trajectoryPaths = this.#s.runTrajectoryPaths.all(id) as string[];
      return this.#s.deleteRun.run(id).changes === 0 ? undefined : { checkpointPaths, sampleSetPaths, trajectoryPaths };
    });
  }

  /**
   * Called once at startup, before any job starts: runs and comparisons a crashed process left 'running' (or
   * 'paused', whose in-memory state died with it) become 'interrupted'. Returns the ids it changed.
   */
  markInterrupted(): { runs: string[]; comparisons: string[] } {
    return this.transaction(() => {
      const now = this.#now();
      const runs = this.#s.liveRunIds.all() as string[];
      const comparisons = this.#s.liveComparisonIds.all() as string[];
      this.#s.interruptRuns.run(now);
      this.#s.interruptComparisons.run(now);
      return { runs, comparisons };
    });
  }

  // ---- checkpoints ----

  addCheckpoint(input: NewCheckpoint): Checkpoint {
    const id = input.id === undefined ? newId('c') : requireText(input.id, 'checkpoint id');
    const runId = requireText(input.runId, 'checkpoint run id');
    const step = requireInt(input.step, 'checkpoint step');
    const sha256 = requireText(input.sha256, 'checkpoint sha256').toLowerCase();
    if (!/^[0-9a-f]{64}$/.test(sha256)) throw new Error(`checkpoint sha256 must be 64 hex digits, got '${sha256}'`);
    try {
      this.#s.insertCheckpoint.run({
        id,
        run_id: runId,
        step,
        path: requireText(input.path, 'checkpoint path'),
        sha256,
        bytes: requireInt(input.bytes, 'checkpoint bytes'),
        pinned: input.pinned ? 1 : 0,
        metrics_json: input.metrics == null ? null : objectToJson(input.metrics, 'checkpoint metrics'),
        now: this.#now(),
      });
    } catch (err) {
      const code = sqliteCode(err);
      if (code === 'SQLITE_CONSTRAINT_UNIQUE') throw new Error(`Run ${runId} already has a checkpoint at step ${step}`);
      if (code === 'SQLITE_CONSTRAINT_PRIMARYKEY') throw new Error(`A checkpoint with id ${id} already exists`);
      if (code === 'SQLITE_CONSTRAINT_FOREIGNKEY') throw new Error(`Cannot add a checkpoint: no run ${runId}`);
      throw err;
    }
    return this.getCheckpoint(id)!;
  }

  getCheckpoint(id: string): Checkpoint | undefined {
    const row = this.#s.getCheckpoint.get(id) as CheckpointRow | undefined;
    return row && toCheckpoint(row);
  }

  /** A run's checkpoints in step order. */
  listCheckpoints(runId: string): Checkpoint[] {
    return (this.#s.listCheckpoints.all(runId) as CheckpointRow[]).map(toCheckpoint);
  }

  pinCheckpoint(id: string, pinned = true): Checkpoint {
    if (this.#s.setCheckpointPinned.run(pinned ? 1 : 0, id).changes === 0) throw new Error(`No checkpoint ${id}`);
    return this.getCheckpoint(id)!;
  }

  /** Deletes the row and returns it (the caller deletes its file), or undefined when there was none. */
  deleteCheckpoint(id: string): Checkpoint | undefined {
    return this.transaction(() => {
      const found = this.getCheckpoint(id);
      if (found) this.#s.deleteCheckpoint.run(id);
      return found;
    });
  }

  /**
   * The checkpoints a retention policy of "keep the newest `keepLast`" would delete, oldest first. Pinned
   * checkpoints and those another run was forked from are always kept. Deletes nothing.
   */
  checkpointsToPrune(runId: string, keepLast: number): Checkpoint[] {
    const keep = requireInt(keepLast, 'keepLast');
    return (this.#s.checkpointsToPrune.all({ run_id: runId, keep }) as CheckpointRow[]).map(toCheckpoint);
  }

  // ---- metrics ----

  /**
   * Appends a batch in one transaction. Re-logging a (run, name, step) overwrites it, so a run resumed from an
   * earlier checkpoint replaces the steps it repeats instead of duplicating them.
   */
  appendMetrics(rows: readonly MetricRow[]): void {
    if (rows.length === 0) return;
    const now = this.#now();
    const insert = this.#s.upsertMetric;
    this.transaction(() => {
      // Check each distinct run once, for a clear error instead of a bare foreign-key failure.
      for (const runId of new Set(rows.map((r) => r.runId))) this.#requireRun(runId);
      for (const r of rows) {
        const wallTime = r.wallTime === undefined ? now : requireInt(Math.round(r.wallTime), 'metric wall time');
        insert.run(
          r.runId,
          requireInt(r.step, 'metric step'),
          requireText(r.name, 'metric name'),
          realOrNull(r.value, `metric ${r.name}`),
          wallTime,
        );
      }
    });
  }

  /** Points of one metric with sinceStep < step <= untilStep (both optional), in step order. null reads as NaN. */
  metrics(runId: string, name: string, sinceStep?: number, untilStep?: number): MetricPoint[] {
    const rows = this.#s.metrics.all(
      runId,
      name,
      sinceStep ?? Number.MIN_SAFE_INTEGER,
      untilStep ?? Number.MAX_SAFE_INTEGER,
    ) as [number, number | null, number][];
    return rows.map(([step, value, wallTime]) => ({
      step,
      value: value ?? NaN,
      wallTime,
    }));
  }

  metricNames(runId: string): string[] {
    return this.#s.metricNames.all(runId) as string[];
  }

  // ---- sample sets ----

  createSampleSet(input: NewSampleSet): SampleSet {
    const id = input.id === undefined ? newId('s') : requireText(input.id, 'sample set id');
    try {
      this.#s.insertSampleSet.run({
        id,
        run_id: optionalText(input.runId, 'sample set run id'),
        checkpoint_id: optionalText(input.checkpointId, 'sample set checkpoint id'),
        model_json: objectToJson(input.model, 'sample set model'),
        sampler: requireText(input.sampler, 'sampler'),
        steps: requireInt(input.steps, 'sampler steps', 1),
        options_json: objectToJson(input.options ?? {}, 'sampler options'),
        seed: requireInt(input.seed, 'seed'),
        n: requireInt(input.n, 'sample count', 1),
        path: requireText(input.path, 'sample set path'),
        now: this.#now(),
        trajectory_path: optionalText(input.trajectoryPath, 'sample set trajectory path'),
        trajectory_json: input.trajectory == null ? null : objectToJson(input.trajectory, 'sample set trajectory'),
      });
    } catch (err) {
      if (sqliteCode(err) === 'SQLITE_CONSTRAINT_FOREIGNKEY') {
        throw new Error(
          `Cannot create sample set: run ${input.runId} or checkpoint ${input.checkpointId} does not exist`,
        );
      }
      throw err;
    }
    return this.getSampleSet(id)!;
  }

  getSampleSet(id: string): SampleSet | undefined {
    const row = this.#s.getSampleSet.get(id) as SampleSetRow | undefined;
    return row && toSampleSet(row);
  }

  /** Newest first. */
  listSampleSets(filter: SampleSetFilter = {}): SampleSet[] {
    const rows = this.#s.listSampleSets.all({
      run_id: filter.runId ?? null,
      checkpoint_id: filter.checkpointId ?? null,
      trajectory: filter.withTrajectory ? 1 : 0,
    });
    return (rows as SampleSetRow[]).map(toSampleSet);
  }

  deleteSampleSet(id: string): SampleSet | undefined {
    return this.transaction(() => {
      const found = this.getSampleSet(id);
      if (found) this.#s.deleteSampleSet.run(id);
      return found;
    });
  }

  // ---- comparisons ----

  createComparison(input: NewComparison): Comparison {
    const id = input.id === undefined ? newId('x') : requireText(input.id, 'comparison id');
    this.#s.insertComparison.run({
      id,
      name: requireText(input.name, 'comparison name'),
      spec_json: objectToJson(input.spec, 'comparison spec'),
      status: requireOneOf(input.status ?? 'created', COMPARISON_STATUSES, 'comparison status'),
      now: this.#now(),
    });
    return this.getComparison(id)!;
  }

  /** Updates the given fields; `result: null` clears the result, an absent `result` keeps it. */
  updateComparison(id: string, update: ComparisonUpdate): Comparison {
    const hasResult = Object.hasOwn(update, 'result') && update.result !== undefined;
    const info = this.#s.updateComparison.run({
      id,
      name: update.name === undefined ? null : requireText(update.name, 'comparison name'),
      status:
        update.status === undefined ? null : requireOneOf(update.status, COMPARISON_STATUSES, 'comparison status'),
      set_result: hasResult ? 1 : 0,
      result_json: hasResult && update.result !== null ? valueToJson(update.result, 'comparison result') : null,
      now: this.#now(),
    });
    if (info.changes === 0) throw new Error(`No comparison ${id}`);
    return this.getComparison(id)!;
  }

  getComparison(id: string): Comparison | undefined {
    const row = this.#s.getComparison.get(id) as ComparisonRow | undefined;
    return row && toComparison(row);
  }

  /** Newest first. */
  listComparisons(): Comparison[] {
    return (this.#s.listComparisons.all() as ComparisonRow[]).map(toComparison);
  }

  deleteComparison(id: string): boolean {
    return this.#s.deleteComparison.run(id).changes > 0;
  }

  // ---- helpers ----

  #requireRun(id: string): Run {
    const run = this.getRun(id);
    if (!run) throw new Error(`No run ${id}`);
    return run;
  }

  #changeRun(info: Database.RunResult, id: string): void {
    if (info.changes === 0) throw new Error(`No run ${id}`);
  }
}
