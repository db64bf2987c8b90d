/**
 * Where a worker thread's code lives. Hosts decide: the Electron build and the bundled server point at a built .js
 * file; code running from TypeScript sources (tsx, vitest) points at the .ts file through tsxWorkerEntry.
 */
import { pathToFileURL } from 'node:url';
import { Worker, type WorkerOptions } from 'node:worker_threads';

export interface WorkerEntry {
  /** A file URL, or a script when options.eval is set. */
  script: URL | string;
  options?: WorkerOptions;
}

export function fileWorkerEntry(path: string | URL): WorkerEntry {
  return { script: typeof path === 'string' ? pathToFileURL(path) : path };
}

/**
 * A worker that runs a .ts file. Node 20 ignores `--import tsx` in a worker's execArgv for the worker's own entry
 * (measured on 20.20), so a tiny eval'd bootstrap registers tsx's loader first, then imports the entry.
 */
export function tsxWorkerEntry(tsFile: URL): WorkerEntry {
  // The ESM build of tsx's API: its CommonJS build resolves its own chunks wrongly when import()ed.
  const api = import.meta.resolve('tsx/esm/api');
  const script =
    `import(${JSON.stringify(api)}).then((tsx) => { tsx.register(); ` +
    `return import(${JSON.stringify(tsFile.href)}); });`;
  return { script, options: { eval: true } };
}

export function spawnWorker(entry: WorkerEntry, options: WorkerOptions = {}): Worker {
  return new Worker(entry.script, { ...entry.options, ...options });
}
