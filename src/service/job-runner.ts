/**
 * Runs jobs in worker threads, one fresh worker per job, at most `maxConcurrent` at a time (the rest wait in FIFO
 * order). It owns the lifecycle and nothing else: start, cancel (a message, then termination if the worker does not
 * answer), and crash detection, so that a job always ends in exactly one of finished / cancelled / failed and never
 * hangs. What the messages mean is the caller's business (see studio-service.ts).
 */
import type { Worker } from 'node:worker_threads';
import type { FromSampleWorker, ToSampleWorker } from '../worker/sample-messages.ts';
import { spawnWorker, type WorkerEntry } from './worker-entry.ts';

/** How long a worker may take to honour a cancel message before it is terminated. */
const CANCEL_GRACE_MS = 2000;

export interface Job<Meta> {
  readonly id: string;
  readonly start: Extract<ToSampleWorker, { type: 'start' }>;
  readonly meta: Meta;
  /** Steps reported so far (for a cancel that has to terminate the worker). */
  completedSteps: number;
}

export interface JobHandlers<Meta> {
  /** Every message of a live job, including the final done / cancelled / error one. */
  message(job: Job<Meta>, message: FromSampleWorker): void | Promise<void>;
  /** The job ended without a final message: the worker crashed, exited, or was terminated after a cancel. */
  ended(job: Job<Meta>, outcome: { cancelled: true } | { cancelled: false; error: Error }): void;
}

interface Live<Meta> {
  job: Job<Meta>;
  worker?: Worker;
  settled: boolean;
  cancelTimer?: ReturnType<typeof setTimeout>;
}

export class JobRunner<Meta> {
  readonly #queue: Live<Meta>[] = [];
  readonly #running = new Map<string, Live<Meta>>();

  constructor(
    private readonly entry: WorkerEntry,
    private readonly maxConcurrent: number,
    private readonly handlers: JobHandlers<Meta>,
  ) {}

  get activeCount(): number {
    return this.#running.size;
  }

  submit(job: Job<Meta>): void {
    this.#queue.push({ job, settled: false });
    this.#pump();
  }

  /** False when the job is unknown or already over. */
  cancel(jobId: string): boolean {
    const queued = this.#queue.findIndex((l) => l.job.id === jobId);
    if (queued >= 0) {
      const [live] = this.#queue.splice(queued, 1);
      live.settled = true;
      this.handlers.ended(live.job, { cancelled: true });
      return true;
    }
    const live = this.#running.get(jobId);
    if (!live || live.settled || live.cancelTimer) return !!live && !live.settled;
    live.worker!.postMessage({ type: 'cancel' } satisfies ToSampleWorker);
    live.cancelTimer = setTimeout(() => {
      if (live.settled) return;
      this.#settle(live);
      this.handlers.ended(live.job, { cancelled: true });
    }, CANCEL_GRACE_MS);
    return true;
  }

  /** Cancel everything and wait for the workers to stop. */
  async close(): Promise<void> {
    for (const live of this.#queue.splice(0)) live.settled = true;
    const workers = [...this.#running.values()].map((l) => {
      l.settled = true;
      if (l.cancelTimer) clearTimeout(l.cancelTimer);
      return l.worker?.terminate();
    });
    this.#running.clear();
    await Promise.allSettled(workers);
  }

  #pump(): void {
    while (this.#running.size < this.maxConcurrent && this.#queue.length > 0) {
      const live = this.#queue.shift()!;
      this.#running.set(live.job.id, live);
      this.#startWorker(live);
    }
  }

  #startWorker(live: Live<Meta>): void {
    const worker = spawnWorker(this.entry, { name: `sample-${live.job.id}` });
    live.worker = worker;
    worker.on('message', (message: FromSampleWorker) => {
      if (live.settled) return;
      if (message.type === 'step') live.job.completedSteps = message.i;
      const final = message.type === 'done' || message.type === 'cancelled' || message.type === 'error';
      if (final) this.#settle(live);
      void Promise.resolve(this.handlers.message(live.job, message)).catch((error: unknown) => {
        // A handler that fails on a final message (e.g. the database write) still has to end the job once.
        if (final) this.handlers.ended(live.job, { cancelled: false, error: error as Error });
      });
    });
    worker.on('error', (error) => {
      if (live.settled) return;
      this.#settle(live);
      this.handlers.ended(live.job, { cancelled: false, error });
    });
    worker.on('messageerror', (error) => {
      if (live.settled) return;
      this.#settle(live);
      this.handlers.ended(live.job, { cancelled: false, error });
    });
    worker.on('exit', (code) => {
      if (!live.settled) {
        this.#settle(live);
        const error = new Error(`the sample worker exited (code ${code}) before the job finished`);
        error.name = 'WorkerExitError';
        this.handlers.ended(live.job, { cancelled: false, error });
      }
    });
    worker.postMessage(live.job.start);
  }

  /** Mark a job over, free its slot and start the next one. Idempotent. */
  #settle(live: Live<Meta>): void {
    if (live.settled) return;
    live.settled = true;
    if (live.cancelTimer) clearTimeout(live.cancelTimer);
    this.#running.delete(live.job.id);
    // The worker exits on its own after its final message; terminating also covers a stuck or crashed one.
    void live.worker?.terminate();
    this.#pump();
  }
}
