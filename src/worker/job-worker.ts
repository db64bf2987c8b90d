/**
 * The worker side of the job protocol the service's JobRunner speaks (src/service/job-runner.ts), shared by every
 * job worker (analytic sampling, model sampling, comparisons): the first message starts the one job this thread
 * runs, `{ type: 'cancel' }` aborts its signal, and the job ends with exactly one `done` (posted by the job),
 * `cancelled` (with the steps completed) or `error` message, after which the port closes and the thread exits.
 * The thread runs below normal priority (background-priority.ts).
 */
import { parentPort } from 'node:worker_threads';
import type { SerializedError } from '../api/contract.ts';
import { serializeError } from '../api/errors.ts';
import { lowerWorkerPriority } from './background-priority.ts';

/** The endings the protocol posts on the job's behalf; every worker's outgoing message union includes them. */
type JobEnd = { type: 'cancelled'; completedSteps: number } | { type: 'error'; error: SerializedError };

export interface JobContext<From> {
  readonly signal: AbortSignal;
  /** Posts to the service; typed arrays listed in `transfer` move instead of being copied. */
  post(message: From, transfer?: ArrayBuffer[]): void;
  /** Steps done so far: what a cancelled job reports. */
  completedSteps: number;
}

/** Lets a queued cancel message run: a sampler's awaits alone are microtasks and would starve it. */
export function yieldToEventLoop(): Promise<void> {
  return new Promise((resolve) => setImmediate(resolve));
}

/**
 * Serves one job on this worker thread. `run` does the job and posts its own progress and `done`; if it throws,
 * the job ends `cancelled` when its signal was aborted and `error` otherwise.
 */
export function serveJob<Start extends { type: 'start' }, From extends { type: string }>(
  kind: string,
  run: (start: Start, job: JobContext<From>) => Promise<void>,
): void {
  const port = parentPort;
  if (!port) throw new Error(`the ${kind} worker must run in a worker thread`);
  lowerWorkerPriority();
  const controller = new AbortController();
  const end = (message: JobEnd) => port.postMessage(message);
  const job: JobContext<From> = {
    signal: controller.signal,
    post: (message, transfer = []) => port.postMessage(message, transfer),
    completedSteps: 0,
  };
  let started = false;

  const serve = async (start: Start): Promise<void> => {
    try {
      await run(start, job);
    } catch (e) {
      if (controller.signal.aborted) end({ type: 'cancelled', completedSteps: job.completedSteps });
      else end({ type: 'error', error: serializeError(e) });
    } finally {
      port.close();
    }
  };

  port.on('message', (message: Start | { type: 'cancel' }) => {
    if (message.type === 'cancel') {
      controller.abort();
    } else if (started) {
      end({ type: 'error', error: { name: 'Error', message: `a ${kind} worker runs one job` } });
    } else {
      started = true;
      void serve(message as Start);
    }
  });
}
