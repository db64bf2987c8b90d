/**
 * Runs jobs in worker threads, one fresh worker per job, at most `maxConcurrent` at a time (the rest wait in FIFO
 * order), whatever kind of worker a job needs: analytic sampling, sampling a trained network, a comparison. It owns
 * the lifecycle and nothing else: start, cancel (a message, then termination if the worker does not answer), a
 * grace period for a finished worker to clean up and exit, and crash detection, so that a job always ends in exactly one of finished / cancelled / failed and never hangs. What
 * the messages mean is each job's business (see studio-service.ts).
 *
 * Protocol every job worker follows (its worker side: src/worker/job-worker.ts): the first message in is the job's
 * start message; `{ type: 'cancel' }` asks it to stop; it answers with any messages, where `{ type: 'step', i }`
 * counts progress, and ends with exactly one `done`, `cancelled` or `error` message.
 */
import type { Worker } from 'node:worker_threads';
import { spawnWorker, type WorkerEntry } from './worker-entry.ts';

/** The least a job worker's messages have in common. */
export interface JobWorkerMessage {
  type: string;
}

/** How long a worker may take to honour a cancel message before it is terminated. */
const CANCEL_GRACE_MS = 2000;

/**
 * How long a worker that has sent its final message may take to clean up (release its onnxruntime session, close
 * its database) and exit on its own before it is terminated. Terminating it mid-cleanup can abort the whole
 * process: onnxruntime-node then throws a C++ exception (Napi::Error) that nothing catches, and the runtime calls
 * std::terminate ("terminate called after throwing an instance of 'Napi::Error'"), seen in CI as "Worker exited
 * unexpectedly" for the vitest process hosting the service.
 */
const EXIT_GRACE_MS = 10_000;

export type JobOutcome = { cancelled: true } | { cancelled: false; error: Error };

export interface JobStartMessage {
  type: 'start';
  jobId: string;
}

export interface Job<
  From extends JobWorkerMessage = JobWorkerMessage,
  Start extends JobStartMessage = JobStartMessage,
> {
  readonly id: string;
  /** Which worker runs it, and the worker thread's name prefix (e.g. 'sample'). */
  readonly entry: WorkerEntry;
  readonly kind: string;
  /** Posted to the worker first. */
  readonly start: Start;
  /** Steps reported so far (for a cancel that has to terminate the worker). */
  completedSteps: number;
  /** Every message of the live job, including the final done / cancelled / error one. */
  message(message: From): void | Promise<void>;
  /** The job ended without a final message: the worker crashed, exited, or was terminated after a cancel. */
  ended(outcome: JobOutcome): void;
}

interface Live {
  job: Job;
  worker?: Worker;
  settled: boolean;
  cancelTimer?: ReturnType<typeof setTimeout>;
}

const isFinal = (message: JobWorkerMessage): boolean =>
  message.type === 'done' || message.type === 'cancelled' || message.type === 'error';

export class JobRunner {
  readonly #queue: Live[] = [];
  readonly #running = new Map<string, Live>();
  /** Workers that have ended their job and are being given time to exit. */
  readonly #exiting = new Set<Promise<void>>();

  constructor(private readonly maxConcurrent: number) {}

  get activeCount(): number {
    return this.#running.size;
  }

  submit<From extends JobWorkerMessage, Start extends JobStartMessage>(job: Job<From, Start>): void {
    this.#queue.push({ job: job as unknown as Job, settled: false });
    this.#pump();
  }

  /** False when the job is unknown or already over. */
  cancel(jobId: string): boolean {
    const queued = this.#queue.findIndex((l) => l.job.id === jobId);
    if (queued >= 0) {
      const [live] = this.#queue.splice(queued, 1);
      live.settled = true;
      live.job.ended({ cancelled: true });
      return true;
    }
    const live = this.#running.get(jobId);
    if (!live || live.settled || live.cancelTimer) return !!live && !live.settled;
    live.worker!.postMessage({ type: 'cancel' });
    live.cancelTimer = setTimeout(() => {
      if (live.settled) return;
      this.#settle(live);
      live.job.ended({ cancelled: true });
    }, CANCEL_GRACE_MS);
    return true;
  }

  /** Cancel everything and wait for the workers to stop (each asked to cancel first, terminated if it does not). */
  async close(): Promise<void> {
    for (const live of this.#queue.splice(0)) live.settled = true;
    for (const live of this.#running.values()) {
      live.settled = true;
      if (live.cancelTimer) clearTimeout(live.cancelTimer);
      if (live.worker && live.worker.threadId !== -1) {
        live.worker.postMessage({ type: 'cancel' });
        this.#reap(live.worker, CANCEL_GRACE_MS);
      }
    }
    this.#running.clear();
    await Promise.allSettled([...this.#exiting]);
  }

  #pump(): void {
    while (this.#running.size < this.maxConcurrent && this.#queue.length > 0) {
      const live = this.#queue.shift()!;
      this.#running.set(live.job.id, live);
      this.#startWorker(live);
    }
  }

  #startWorker(live: Live): void {
    const worker = spawnWorker(live.job.entry, { name: `${live.job.kind}-${live.job.id}` });
    live.worker = worker;
    worker.on('message', (message: JobWorkerMessage & { i?: unknown }) => {
      if (live.settled) return;
      if (message.type === 'step' && typeof message.i === 'number') live.job.completedSteps = message.i;
      const final = isFinal(message);
      if (final) this.#settle(live);
      void Promise.resolve()
        .then(() => live.job.message(message))
        .catch((error: unknown) => {
          // A handler that fails on a final message (e.g. the database write) still has to end the job once.
          if (final) live.job.ended({ cancelled: false, error: error as Error });
        });
    });
    worker.on('error', (error) => {
      if (live.settled) return;
      this.#settle(live);
      live.job.ended({ cancelled: false, error });
    });
    worker.on('messageerror', (error) => {
      if (live.settled) return;
      this.#settle(live);
      live.job.ended({ cancelled: false, error });
    });
    worker.on('exit', (code) => {
      if (!live.settled) {
        this.#settle(live);
        const error = new Error(`the sample worker exited (code ${code}) before the job finished`);
        error.name = 'WorkerExitError';
        live.job.ended({ cancelled: false, error });
      }
    });
    worker.postMessage(live.job.start);
  }

  /** Mark a job over, free its slot and start the next one. Idempotent. */
  #settle(live: Live): void {
    if (live.settled) return;
    live.settled = true;
    if (live.cancelTimer) clearTimeout(live.cancelTimer);
    this.#running.delete(live.job.id);
    // The worker exits on its own after its final message; terminating (late) also covers a stuck one.
    if (live.worker) this.#reap(live.worker, EXIT_GRACE_MS);
    this.#pump();
  }

  /** Waits for the worker to exit, terminating it after `graceMs`; close() awaits every such wait. */
  #reap(worker: Worker, graceMs: number): void {
    if (worker.threadId === -1) return; // already exited
    const exited = new Promise<void>((resolve) => {
      const timer = setTimeout(() => void worker.terminate().finally(resolve), graceMs);
      worker.once('exit', () => {
        clearTimeout(timer);
        resolve();
      });
    });
    this.#exiting.add(exited);
    void exited.then(() => this.#exiting.delete(exited));
  }
}
