/**
 * Job workers yield the CPU to the host's main thread and the renderer: on Linux a thread's nice value is its own
 * (setpriority with pid 0 changes the calling thread only), and threads it starts later (onnxruntime's pool, tfjs's
 * wasm workers) inherit it. Elsewhere the call would change the whole process's priority, host included, so it is
 * Linux only. Returns the nice value set, or null.
 */
import { getPriority, setPriority } from 'node:os';

/** A background job's niceness: the lowest (19). Under contention CFS then gives it ~1/68 of a normal thread's share;
 * alone it still gets a whole core. */
export const WORKER_NICE = 19;

export function lowerWorkerPriority(platform: NodeJS.Platform = process.platform): number | null {
  if (platform !== 'linux') return null;
  try {
    if (getPriority() < WORKER_NICE) setPriority(WORKER_NICE); // never raise the priority of an already nicer host
    return getPriority();
  } catch {
    return null; // a sandbox may forbid it; the job still runs at normal priority
  }
}
