/**
 * Checkpoint files plus their store rows: save, load (falling back past damaged ones), retention, fork.
 *
 * Files live in `<runsDir>/<runId>/ckpt-<step, 8 digits>.safetensors`.
 *
 * Crash consistency (SIGKILL or power loss at any instant), one rule: a committed row only ever points to a
 * complete, durable file, and that file is never modified while a row points to it. Hence the order of operations:
 * - save / fork: write the file atomically and durably first (io.ts), then commit the row;
 * - prune / re-save: commit the row's removal (or replacement) first, then delete the old file.
 * A crash can therefore leave only files without rows (orphans, and temp files from an interrupted write), which
 * loads never look at and removeOrphans() sweeps; never a row without its file. A row whose file is missing or
 * damaged anyway (deleted by hand, a bad disk) is reported by loadLatestGood, which falls back to the previous one.
 *
 * The manager belongs to the store's single writer (see store.ts); this process's in-flight writes are tracked so
 * that removeOrphans never deletes a file whose row is about to be committed.
 */
import { randomBytes } from 'node:crypto';
import { mkdir, readdir, rmdir, unlink } from 'node:fs/promises';
import { basename, dirname, join, resolve } from 'node:path';
import { newId } from '../store/ids.ts';
import type { Store } from '../store/store.ts';
import type { Checkpoint, JsonObject, Run } from '../store/types.ts';
import {
  CorruptCheckpointError,
  MissingCheckpointError,
  describeFsError,
  readCheckpointFile,
  writeCheckpointBytes,
  type CheckpointIoOptions,
} from './io.ts';
import { encodeTrainingState, sha256Hex, type TrainingState } from './state.ts';

export interface SaveOptions {
  pinned?: boolean;
  /** Stored on the row for listing (defaults to state.metrics; non-finite values become null). */
  metrics?: Record<string, number>;
}

export interface LoadedCheckpoint {
  checkpoint: Checkpoint;
  state: TrainingState;
}

export interface SkippedCheckpoint {
  checkpoint: Checkpoint;
  error: string;
}

export interface ForkOptions {
  /** The new run's config; defaults to the parent run's. */
  config?: JsonObject;
  notes?: string;
}

/** No checkpoint of the run could be loaded; `skipped` says why for each one tried (newest first). */
export class NoUsableCheckpointError extends Error {
  override readonly name = 'NoUsableCheckpointError';
  constructor(
    readonly runId: string,
    readonly skipped: SkippedCheckpoint[],
  ) {
    super(
      skipped.length === 0
        ? `run ${runId} has no checkpoints`
        : `run ${runId} has no usable checkpoint: ${skipped.map((s) => s.error).join('; ')}`,
    );
  }
}

export function checkpointFileName(step: number): string {
  return `ckpt-${String(step).padStart(8, '0')}.safetensors`;
}

const CHECKPOINT_FILE = /^ckpt-\d{8,}(-[0-9a-f]+)?\.safetensors$/;
const TEMP_FILE = /^\.ckpt-.*\.tmp$/;

const finiteOrNull = (metrics: Record<string, number>): JsonObject =>
  Object.fromEntries(Object.entries(metrics).map(([k, v]) => [k, Number.isFinite(v) ? v : null]));

const isSkippable = (err: unknown) => err instanceof CorruptCheckpointError || err instanceof MissingCheckpointError;

export class CheckpointManager {
  readonly runsDir: string;
  readonly #store: Store;
  readonly #io: CheckpointIoOptions;
  /** Final paths being written by this process, which removeOrphans must leave alone. */
  readonly #inFlight = new Set<string>();

  constructor(store: Store, runsDir: string, io: CheckpointIoOptions = {}) {
    this.#store = store;
    this.runsDir = resolve(runsDir); // rows hold absolute paths, whatever the cwd later
    this.#io = io;
  }

  runDir(runId: string): string {
    return join(this.runsDir, runId);
  }

  /**
   * Writes the state as the run's checkpoint at state.step and records it. Re-saving a step that already has a
   * row (a run resumed from an earlier checkpoint) replaces file and row (sample sets made from the old weights
   * lose their link to it); identical bytes keep the row as is. A checkpoint another run was forked from is never
   * replaced: that throws.
   */
  async save(runId: string, state: TrainingState, options: SaveOptions = {}): Promise<Checkpoint> {
    if (!this.#store.getRun(runId)) throw new Error(`cannot save a checkpoint: no run ${runId}`);
    const bytes = encodeTrainingState(state);
    const sha256 = sha256Hex(bytes);
    const existing = this.#store.listCheckpoints(runId).find((c) => c.step === state.step);
    const pinned = Boolean(options.pinned) || Boolean(existing?.pinned);
    const metricValues = options.metrics ?? state.metrics;
    const metrics = metricValues ? finiteOrNull(metricValues) : null;
    const dir = this.runDir(runId);
    const canonical = join(dir, checkpointFileName(state.step));

    if (existing && existing.sha256 === sha256) {
      // Same bytes as the row describes: rewriting its file in place is safe (and repairs a damaged one).
      await this.#claim(existing.path, () => this.#write(existing.path, bytes));
      return pinned && !existing.pinned ? this.#store.pinCheckpoint(existing.id) : existing;
    }
    if (existing) {
      const forks = this.#store.listRuns().filter((r) => r.parentCheckpointId === existing.id);
      if (forks.length > 0) {
        throw new Error(
          `cannot replace checkpoint ${existing.id} (run ${runId}, step ${state.step}) with different weights: ` +
            `run(s) ${forks.map((r) => r.id).join(', ')} were forked from it. Fork a new run to diverge instead.`,
        );
      }
    }
    // Never overwrite a file a committed row points to: a replacement goes beside it under a fresh name.
    const path =
      existing?.path === canonical
        ? join(dir, checkpointFileName(state.step).replace('.', `-${randomBytes(4).toString('hex')}.`))
        : canonical;
    const row = await this.#claim(path, async () => {
      const written = await this.#write(path, bytes);
      return this.#commitOrRemove(path, () =>
        this.#store.transaction(() => {
          if (existing) this.#store.deleteCheckpoint(existing.id);
          return this.#store.addCheckpoint({
            runId,
            step: state.step,
            path,
            sha256: written.sha256,
            bytes: written.bytes,
            pinned,
            metrics,
          });
        }),
      );
    });
    if (existing && existing.path !== path) await unlink(existing.path).catch(() => {});
    return row;
  }

  /** Loads one checkpoint, verified against its row's checksum. */
  async load(checkpointId: string): Promise<LoadedCheckpoint> {
    const checkpoint = this.#store.getCheckpoint(checkpointId);
    if (!checkpoint) throw new Error(`no checkpoint ${checkpointId}`);
    return { checkpoint, state: await this.#read(checkpoint) };
  }

  /**
   * The newest checkpoint of the run that loads and verifies, walking back past missing or corrupt ones (reported
   * in `skipped`, newest first). Other failures (an unreadable disk, a newer format) are thrown rather than
   * silently resuming from older weights. Throws NoUsableCheckpointError when none is good.
   */
  async loadLatestGood(runId: string): Promise<LoadedCheckpoint & { skipped: SkippedCheckpoint[] }> {
    const skipped: SkippedCheckpoint[] = [];
    for (const checkpoint of this.#store.listCheckpoints(runId).reverse()) {
      try {
        return { checkpoint, state: await this.#read(checkpoint), skipped };
      } catch (err) {
        if (!isSkippable(err)) throw err;
        skipped.push({ checkpoint, error: (err as Error).message });
      }
    }
    throw new NoUsableCheckpointError(runId, skipped);
  }

  /**
   * Keeps the newest `keepLast` checkpoints, the pinned ones and fork origins; deletes the rest (rows first, then
   * files). Returns the deleted rows, oldest first.
   */
  async prune(runId: string, keepLast: number): Promise<Checkpoint[]> {
    if (!Number.isSafeInteger(keepLast) || keepLast < 1) {
      throw new Error(`keepLast must be an integer >= 1 (a crashed run resumes from its latest), got ${keepLast}`);
    }
    const doomed = this.#store.transaction(() => {
      const rows = this.#store.checkpointsToPrune(runId, keepLast);
      for (const row of rows) this.#store.deleteCheckpoint(row.id);
      return rows;
    });
    const kept = new Set(this.#store.listCheckpoints(runId).map((c) => resolve(c.path)));
    // A file that fails to go is only an orphan now; removeOrphans retries it.
    for (const row of doomed) if (!kept.has(resolve(row.path))) await unlink(row.path).catch(() => {});
    return doomed;
  }

  /**
   * Starts a new run from a checkpoint: the checkpoint is verified, copied into the new run's folder as its
   * starting point (same step), and the run records its parent run and checkpoint.
   */
  async fork(fromCheckpointId: string, newRunName: string, options: ForkOptions = {}): Promise<Run> {
    const source = this.#store.getCheckpoint(fromCheckpointId);
    if (!source) throw new Error(`cannot fork: no checkpoint ${fromCheckpointId}`);
    const parent = this.#store.getRun(source.runId)!;
    const { bytes } = await readCheckpointFile(source.path, source.sha256, this.#io);
    const runId = newId('r');
    const path = join(this.runDir(runId), checkpointFileName(source.step));
    return this.#claim(path, async () => {
      const written = await this.#write(path, bytes);
      return this.#commitOrRemove(path, () =>
        this.#store.transaction(() => {
          this.#store.createRun({
            id: runId,
            name: newRunName,
            kind: parent.kind,
            config: options.config ?? parent.config,
            dataset: parent.dataset,
            preset: parent.preset,
            engine: parent.engine,
            parentRunId: parent.id,
            parentCheckpointId: source.id,
            notes: options.notes,
          });
          this.#store.addCheckpoint({
            runId,
            step: source.step,
            path,
            sha256: written.sha256,
            bytes: written.bytes,
            metrics: source.metrics,
          });
          this.#store.updateRunProgress(runId, source.step, null);
          return this.#store.getRun(runId)!;
        }),
      );
    });
  }

  /**
   * Deletes what a crash can leave behind: checkpoint files no row points to and temp files, in one run's folder
   * or (no argument) in every run folder, removing folders of runs that no longer exist once empty. Only our own
   * file names are touched. Returns the deleted paths.
   */
  async removeOrphans(runId?: string): Promise<string[]> {
    const runIds = runId !== undefined ? [runId] : await this.#runFolders();
    const removed: string[] = [];
    for (const id of runIds) {
      const dir = this.runDir(id);
      let names: string[];
      try {
        names = await readdir(dir);
      } catch {
        continue;
      }
      const referenced = new Set(this.#store.listCheckpoints(id).map((c) => resolve(c.path)));
      const busy = [...this.#inFlight].filter((p) => dirname(p) === dir).map((p) => basename(p));
      for (const name of names) {
        const path = join(dir, name);
        const orphan = CHECKPOINT_FILE.test(name) && !referenced.has(path);
        const temp = TEMP_FILE.test(name);
        if (!(orphan || temp) || busy.some((b) => name === b || name.startsWith(`.${b}.`))) continue;
        try {
          await unlink(path);
          removed.push(path);
        } catch {
          /* gone already, or not ours to delete */
        }
      }
      if (!this.#store.getRun(id)) await rmdir(dir).catch(() => {});
    }
    return removed;
  }

  async #runFolders(): Promise<string[]> {
    try {
      const entries = await readdir(this.runsDir, { withFileTypes: true });
      return entries.filter((e) => e.isDirectory()).map((e) => e.name);
    } catch {
      return [];
    }
  }

  async #read(checkpoint: Checkpoint): Promise<TrainingState> {
    const { state } = await readCheckpointFile(checkpoint.path, checkpoint.sha256, this.#io);
    if (state.step !== checkpoint.step) {
      throw new CorruptCheckpointError(
        checkpoint.path,
        `it holds step ${state.step} but the store records step ${checkpoint.step}`,
      );
    }
    return state;
  }

  /** Marks a file as in flight from before it is written until its row is committed (or it is removed). */
  async #claim<T>(path: string, fn: () => Promise<T>): Promise<T> {
    this.#inFlight.add(path);
    try {
      return await fn();
    } finally {
      this.#inFlight.delete(path);
    }
  }

  /** Commits the row for a freshly written file; if that fails, no row points to the file, so it goes. */
  async #commitOrRemove<T>(path: string, commit: () => T): Promise<T> {
    try {
      return commit();
    } catch (err) {
      await unlink(path).catch(() => {});
      await rmdir(dirname(path)).catch(() => {}); // a fork's new folder, if now empty
      throw err;
    }
  }

  async #write(path: string, bytes: Uint8Array) {
    await mkdir(dirname(path), { recursive: true }).catch((err: unknown) => {
      throw new Error(`cannot write checkpoint ${path}: ${describeFsError(err)}`, { cause: err });
    });
    return writeCheckpointBytes(path, bytes, this.#io);
  }
}
