/**
 * Run management for the studio service: rename, delete, checkpoint pins and deletion, forks, and the stored
 * preview film strip. studio-service.ts delegates the RunAdminCalls here. This code runs on the host's main thread
 * and writes through the service's store; a run that a worker is training is left to that worker (its rows are the
 * worker's while it lives, see src/worker/train-messages.ts), except for harmless flags (a name, a pin).
 */
import { copyFile, mkdir, readdir, rm, rmdir, unlink } from 'node:fs/promises';
import { dirname, join, resolve, sep } from 'node:path';
import type {
  DeletedCheckpointInfo,
  DeletedRunInfo,
  ForkRunRequest,
  ListPreviewsRequest,
  RenameRunRequest,
  RunAdminCalls,
  RunPreview,
} from '../api/run-admin-contract.ts';
import { NotFoundError, ValidationError } from '../api/errors.ts';
import { CheckpointManager } from '../checkpoint/manager.ts';
import type { Store } from '../store/store.ts';
import type { Checkpoint, JsonObject, Run } from '../store/types.ts';
import { ConfigError } from '../train/config.ts';
import { forkConfig, type ForkOverrides } from '../train/fork-config.ts';
import { previewFileName, previewsDir, previewSteps, readPreview } from '../train/preview-files.ts';

export interface RunAdminOptions {
  store: Store;
  /** Parent folder of the run folders. */
  runsDir: string;
  /** Whether a worker in this host is training the run now. */
  isTraining(runId: string): boolean;
}

const MAX_NAME = 200;
const DEFAULT_PREVIEWS = 24;
const MAX_PREVIEWS = 200;
/** Run ids as newId makes them; anything else is never turned into a folder path. */
const SAFE_ID = /^[A-Za-z0-9_-]+$/;

export class RunAdmin implements RunAdminCalls {
  readonly #store: Store;
  readonly #runsDir: string;
  readonly #isTraining: (runId: string) => boolean;

  constructor(options: RunAdminOptions) {
    this.#store = options.store;
    this.#runsDir = resolve(options.runsDir);
    this.#isTraining = options.isTraining;
  }

  async renameRun(request: RenameRunRequest): Promise<Run> {
    if (!request || typeof request !== 'object') throw new ValidationError('the request must be an object');
    const run = this.#requireRun(request.runId);
    return this.#store.renameRun(run.id, runName(request.name));
  }

  async deleteRun(runId: string): Promise<DeletedRunInfo> {
    const run = this.#requireRun(runId);
    this.#refuseIfTraining(run, 'delete it');
    const folder = this.#runFolder(run);
    const deleted = this.#store.deleteRun(run.id);
    if (!deleted) throw new NotFoundError(`no run ${run.id}`);
    // Rows are gone first; a file that fails to go is only an orphan now.
    let filesRemoved = 0;
    for (const path of [...deleted.checkpointPaths, ...deleted.sampleSetPaths]) {
      if (
        await unlink(path).then(
          () => true,
          () => false,
        )
      )
        filesRemoved++;
    }
    for (const dir of deleted.trajectoryPaths) {
      await rm(dir, { recursive: true, force: true }).then(
        () => filesRemoved++,
        () => {},
      );
    }
    for (const dir of new Set([folder, join(this.#runsDir, run.id)]))
      filesRemoved += await this.#removeRunFolder(dir, run.id);
    for (const path of deleted.checkpointPaths) await rmdir(dirname(path)).catch(() => {});
    return { runId: run.id, filesRemoved };
  }

  async pinCheckpoint(checkpointId: string): Promise<Checkpoint> {
    return this.#store.pinCheckpoint(this.#requireCheckpoint(checkpointId).id, true);
  }

  async unpinCheckpoint(checkpointId: string): Promise<Checkpoint> {
    return this.#store.pinCheckpoint(this.#requireCheckpoint(checkpointId).id, false);
  }

  async deleteCheckpoint(checkpointId: string): Promise<DeletedCheckpointInfo> {
    const checkpoint = this.#requireCheckpoint(checkpointId);
    const run = this.#requireRun(checkpoint.runId);
    const what = `checkpoint at step ${checkpoint.step}`;
    this.#refuseIfTraining(run, `delete its ${what}`);
    if (checkpoint.pinned) throw new ValidationError(`the ${what} is pinned; unpin it first`);
    const forks = this.#store.listRuns().filter((r) => r.parentCheckpointId === checkpoint.id);
    if (forks.length > 0) {
      throw new ValidationError(
        `run(s) ${forks.map((r) => `"${r.name}"`).join(', ')} were forked from the ${what}; it is kept as their origin`,
      );
    }
    const all = this.#store.listCheckpoints(run.id);
    if (all.length === 1) {
      throw new ValidationError(
        `the ${what} is the run's only checkpoint: without it the run could not be resumed, forked or sampled. ` +
          'Delete the run instead.',
      );
    }
    const newest = all[all.length - 1].id === checkpoint.id;
    const previous = all[all.length - 2];
    const note = this.#store.transaction(() => {
      this.#store.deleteCheckpoint(checkpoint.id);
      if (!newest) return null;
      const loss = previous.metrics?.loss;
      this.#store.updateRunProgress(run.id, previous.step, typeof loss === 'number' ? loss : null);
      const reopened = run.status === 'completed';
      if (reopened) this.#store.updateRunStatus(run.id, 'cancelled');
      return (
        `the run now ends at its checkpoint at step ${previous.step}` +
        `${reopened ? ' and is no longer completed' : ''}; Resume trains on from there`
      );
    });
    await unlink(checkpoint.path).catch(() => {}); // the row is gone: a leftover file is only an orphan
    return { checkpoint, run: this.#store.getRun(run.id)!, note };
  }

  async forkRun(request: ForkRunRequest): Promise<Run> {
    if (!request || typeof request !== 'object') throw new ValidationError('the request must be an object');
    const parent = this.#requireRun(request.runId);
    if (parent.kind !== 'train')
      throw new ValidationError(`run "${parent.name}" is not a training run; only those fork`);
    const checkpoints = this.#store.listCheckpoints(parent.id);
    if (checkpoints.length === 0) throw new ValidationError(`run "${parent.name}" has no checkpoint to fork from`);
    let source: Checkpoint | undefined;
    if (request.checkpointId === undefined) {
      source = checkpoints[checkpoints.length - 1];
    } else {
      source = checkpoints.find((c) => c.id === request.checkpointId);
      if (!source) throw new NotFoundError(`run "${parent.name}" has no checkpoint ${String(request.checkpointId)}`);
    }
    let config;
    try {
      config = forkConfig(parent.config, source.step, (request.overrides ?? {}) as ForkOverrides);
    } catch (e) {
      if (e instanceof ConfigError) throw new ValidationError(e.message);
      throw e;
    }
    const name = request.name === undefined ? `${parent.name} (fork @ ${source.step})` : runName(request.name);
    const manager = new CheckpointManager(this.#store, this.#runsDir);
    const child = await manager.fork(source.id, name, { config: config as unknown as JsonObject });
    // The film strip starts where the parent's stood at that step (same noise, same weights), when it was kept.
    const parentPreview = join(previewsDir(this.#runFolder(parent)), previewFileName(source.step));
    const childPreviews = previewsDir(manager.runDir(child.id));
    await mkdir(childPreviews, { recursive: true });
    await copyFile(parentPreview, join(childPreviews, previewFileName(source.step))).catch(() => {});
    return child;
  }

  async listPreviews(request: ListPreviewsRequest): Promise<RunPreview[]> {
    if (!request || typeof request !== 'object') throw new ValidationError('the request must be an object');
    const run = this.#requireRun(request.runId);
    const max = request.max ?? DEFAULT_PREVIEWS;
    if (!Number.isInteger(max) || max < 1 || max > MAX_PREVIEWS) {
      throw new ValidationError(`max must be an integer in 1..${MAX_PREVIEWS} (got ${JSON.stringify(request.max)})`);
    }
    const folder = this.#runFolder(run);
    const steps = spreadEvenly(await previewSteps(folder), max);
    const previews: RunPreview[] = [];
    for (const step of steps) {
      const p = await readPreview(folder, step);
      const bytes = Buffer.from(p.samples.buffer, p.samples.byteOffset, p.samples.byteLength);
      previews.push({ step, count: p.count, shape: p.shape, samplesBase64: bytes.toString('base64') });
    }
    return previews;
  }

  #requireRun(runId: unknown): Run {
    if (typeof runId !== 'string') throw new ValidationError('runId must be a string');
    const run = this.#store.getRun(runId);
    if (!run) throw new NotFoundError(`no run ${runId}`);
    return run;
  }

  #requireCheckpoint(checkpointId: unknown): Checkpoint {
    if (typeof checkpointId !== 'string') throw new ValidationError('checkpointId must be a string');
    const checkpoint = this.#store.getCheckpoint(checkpointId);
    if (!checkpoint) throw new NotFoundError(`no checkpoint ${checkpointId}`);
    return checkpoint;
  }

  /** A run being trained here, or by another process (the CLI), is left alone. */
  #refuseIfTraining(run: Run, action: string): void {
    if (this.#isTraining(run.id))
      throw new ValidationError(`run "${run.name}" is training; stop it before you ${action}`);
    if (run.status === 'running' || run.status === 'paused') {
      throw new ValidationError(
        `run "${run.name}" is ${run.status} in another process (the CLI?); stop it there before you ${action}`,
      );
    }
  }

  /** Where the run's files live: beside its checkpoints (the CLI may use another folder), else <runs>/<id>. */
  #runFolder(run: Run): string {
    const last = this.#store.listCheckpoints(run.id).at(-1);
    return last ? dirname(last.path) : join(this.#runsDir, run.id);
  }

  /** Removes a deleted run's folder with what is left in it (previews, orphans); returns how many files went. */
  async #removeRunFolder(dir: string, runId: string): Promise<number> {
    const path = resolve(dir);
    // Only the folder named by this run's id: never a shared parent a hand-made --out pointed at.
    if (!SAFE_ID.test(runId) || path.split(sep).at(-1) !== runId) return 0;
    const files = await countFiles(path);
    await rm(path, { recursive: true, force: true });
    return files;
  }
}

function runName(name: unknown): string {
  if (typeof name !== 'string') throw new ValidationError('name must be a string');
  const trimmed = name.trim();
  if (trimmed.length === 0) throw new ValidationError('name must not be empty');
  if (trimmed.length > MAX_NAME) throw new ValidationError(`name must be at most ${MAX_NAME} characters`);
  return trimmed;
}

/** At most `max` items spread evenly, keeping the first and the last. */
export function spreadEvenly<T>(items: readonly T[], max: number): T[] {
  if (items.length <= max) return [...items];
  if (max === 1) return [items[items.length - 1]];
  const picked = new Set<number>();
  for (let i = 0; i < max; i++) picked.add(Math.round((i * (items.length - 1)) / (max - 1)));
  return [...picked].sort((a, b) => a - b).map((i) => items[i]);
}

async function countFiles(dir: string): Promise<number> {
  try {
    const entries = await readdir(dir, { withFileTypes: true, recursive: true });
    return entries.filter((e) => e.isFile()).length;
  } catch {
    return 0;
  }
}
