/**
 * What the training commands share: where the database and run folders live, opening the store, turning the
 * errors a user causes (bad config, missing data, a foreign database) into one-line usage errors, and a per-run
 * lock file that tells a live training process from one that died (SIGKILL, power loss).
 */
import { readFileSync, rmSync, writeFileSync, mkdirSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { ConfigError } from '../train/config.ts';
import { DatasetError } from '../data/errors.ts';
import { ModelConfigError } from '../model/config.ts';
import { NoUsableCheckpointError } from '../checkpoint/manager.ts';
import { dataPaths, resolveDataDir } from '../service/data-dir.ts';
import { openStore, StoreOpenError } from '../store/open.ts';
import type { Store } from '../store/store.ts';
import type { Checkpoint, Run } from '../store/types.ts';
import { UsageError } from './errors.ts';

export interface StudioPaths {
  db: string;
  /** Parent folder of the run folders (`<runs>/<runId>/ckpt-*.safetensors`). */
  runs: string;
  /** Whether --db was given: hints then repeat it. */
  explicitDb: boolean;
}

/** --db and --out, defaulting to <data dir>/studio.db and <data dir>/runs ($DIFFUSION_STUDIO_HOME or ~/.diffusion-studio). */
export function studioPaths(flags: { db?: string; out?: string }): StudioPaths {
  const home = resolveDataDir();
  return {
    db: resolve(flags.db ?? dataPaths(home).database),
    runs: resolve(flags.out ?? join(home, 'runs')),
    explicitDb: flags.db !== undefined,
  };
}

/** ` --db FILE` when the user chose the database, so printed commands work when pasted. */
export function dbHint(paths: StudioPaths): string {
  return paths.explicitDb ? ` --db ${JSON.stringify(paths.db)}` : '';
}

export function openStudioStore(path: string, readonly = false): Store {
  return usageErrors(() => openStore(path, { readonly }));
}

/** Errors that mean "what you asked for or pointed at is wrong" become UsageErrors (exit 2, one line). */
export function toUsage(e: unknown): unknown {
  if (
    e instanceof ConfigError ||
    e instanceof ModelConfigError ||
    e instanceof DatasetError ||
    e instanceof StoreOpenError ||
    e instanceof NoUsableCheckpointError
  ) {
    return new UsageError(e.message);
  }
  return e;
}

export function usageErrors<T>(fn: () => T): T {
  try {
    return fn();
  } catch (e) {
    throw toUsage(e);
  }
}

export async function usageErrorsAsync<T>(fn: () => Promise<T>): Promise<T> {
  try {
    return await fn();
  } catch (e) {
    throw toUsage(e);
  }
}

export function requireRun(store: Store, runId: string, paths: StudioPaths): Run {
  const run = store.getRun(runId);
  if (!run) throw new UsageError(`no run ${runId} in ${paths.db}; see diffusion-studio runs${dbHint(paths)}`);
  return run;
}

/** The folder holding a run's checkpoints: where its files already are, else <runs>/<runId>. */
export function runFolder(runId: string, checkpoints: readonly Checkpoint[], runsDir: string): string {
  const last = checkpoints[checkpoints.length - 1];
  return last ? dirname(last.path) : join(runsDir, runId);
}

// ---- the training lock ----

const LOCK_FILE = 'train.pid';

function pidAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (e) {
    return (e as NodeJS.ErrnoException).code === 'EPERM'; // exists, owned by someone else
  }
}

/**
 * 'live': another process on this machine is training the run now; 'dead': a CLI process started it and died
 * without finishing (its lock file stayed); 'none': no CLI lock (never trained here, finished, or the studio's).
 */
export function lockState(runDir: string): { state: 'live' | 'dead' | 'none'; pid?: number } {
  let text: string;
  try {
    text = readFileSync(join(runDir, LOCK_FILE), 'utf8');
  } catch {
    return { state: 'none' };
  }
  const pid = Number.parseInt(text, 10);
  if (!Number.isSafeInteger(pid) || pid <= 0) return { state: 'dead' };
  if (pid === process.pid) return { state: 'live', pid };
  return { state: pidAlive(pid) ? 'live' : 'dead', pid };
}

/** Claims the run for this process; refuses while another live process holds it. Returns the release function. */
export function acquireLock(runDir: string, runId: string): () => void {
  const held = lockState(runDir);
  if (held.state === 'live' && held.pid !== process.pid) {
    throw new UsageError(
      `run ${runId} is being trained by process ${held.pid}; stop it first ` +
        `(or, if that process is not ours, delete ${join(runDir, LOCK_FILE)})`,
    );
  }
  mkdirSync(runDir, { recursive: true });
  const path = join(runDir, LOCK_FILE);
  writeFileSync(path, `${process.pid}\n`);
  return () => rmSync(path, { force: true });
}

/** The status to show: a run left 'running' or 'paused' by a CLI process that died is 'interrupted'. */
export function effectiveStatus(run: Run, runDir: string): Run['status'] {
  if (run.status !== 'running' && run.status !== 'paused') return run.status;
  return lockState(runDir).state === 'dead' ? 'interrupted' : run.status;
}
