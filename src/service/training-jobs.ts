/**
 * Training runs in worker threads: one worker per running run, driven by pause / resume / stop messages. The worker
 * writes its own run's rows (see src/worker/train-messages.ts); this class only relays its events and, if the
 * worker dies without a final message, records the run as interrupted so that it can be resumed.
 */
import type { Worker } from 'node:worker_threads';
import type { Store } from '../store/store.ts';
import type { FromTrainWorker, ToTrainWorker } from '../worker/train-messages.ts';
import { spawnWorker, type WorkerEntry } from './worker-entry.ts';

export type TrainingEvent = FromTrainWorker | { type: 'exited'; runId: string; error: string };

export interface TrainingJobsOptions {
  entry: WorkerEntry;
  store: Store;
  dbPath: string;
  runsDir: string;
  onEvent(event: TrainingEvent): void;
}

export class TrainingJobs {
  readonly #workers = new Map<string, { worker: Worker; final: boolean }>();

  constructor(private readonly options: TrainingJobsOptions) {}

  isRunning(runId: string): boolean {
    return this.#workers.has(runId);
  }

  get running(): string[] {
    return [...this.#workers.keys()];
  }

  /** Start (or, with resume, continue from the latest good checkpoint) training run `runId` in a new worker. */
  start(runId: string, resume: boolean): void {
    if (this.#workers.has(runId)) throw new Error(`run ${runId} is already training`);
    const worker = spawnWorker(this.options.entry, { name: `train-${runId}` });
    const live = { worker, final: false };
    this.#workers.set(runId, live);
    worker.on('message', (message: FromTrainWorker) => {
      if (message.type === 'done' || message.type === 'error') {
        // The run is over (its rows are written); the worker exits by itself. Free the slot now so that the run can
        // be started again at once.
        live.final = true;
        if (this.#workers.get(runId) === live) this.#workers.delete(runId);
      }
      this.options.onEvent(message);
    });
    worker.on('error', (error) => this.#ended(runId, live, error.message));
    worker.on('exit', (code) =>
      this.#ended(runId, live, `the training worker exited (code ${code}) before the run ended`),
    );
    const start: ToTrainWorker = {
      type: 'start',
      runId,
      dbPath: this.options.dbPath,
      runsDir: this.options.runsDir,
      resume,
    };
    worker.postMessage(start);
  }

  pause(runId: string): boolean {
    return this.#send(runId, { type: 'pause' });
  }

  resume(runId: string): boolean {
    return this.#send(runId, { type: 'resume' });
  }

  /** Ask the run to stop after its current step; it writes a checkpoint first, so it can be resumed exactly. */
  stop(runId: string): boolean {
    return this.#send(runId, { type: 'stop' });
  }

  /** Stop every run gracefully, then wait (at most `timeoutMs`) for the workers to exit. */
  async close(timeoutMs = 30_000): Promise<void> {
    const exits = [...this.#workers.entries()].map(([runId, live]) => {
      this.stop(runId);
      return new Promise<void>((resolve) => {
        const timer = setTimeout(() => void live.worker.terminate().then(() => resolve()), timeoutMs);
        live.worker.once('exit', () => {
          clearTimeout(timer);
          resolve();
        });
      });
    });
    await Promise.all(exits);
  }

  #send(runId: string, message: ToTrainWorker): boolean {
    const live = this.#workers.get(runId);
    if (!live) return false;
    live.worker.postMessage(message);
    return true;
  }

  #ended(runId: string, live: { worker: Worker; final: boolean }, error: string): void {
    if (this.#workers.get(runId) !== live) return;
    this.#workers.delete(runId);
    if (live.final) return;
    live.final = true;
    // The worker can no longer write: its run is resumable from the last checkpoint it wrote.
    const run = this.options.store.getRun(runId);
    if (run && (run.status === 'running' || run.status === 'paused' || run.status === 'created')) {
      this.options.store.updateRunStatus(runId, 'interrupted', error);
    }
    this.options.onEvent({ type: 'exited', runId, error });
  }
}
