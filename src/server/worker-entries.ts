/**
 * Worker code for the server host. The bundled server (out/server, built by vite.server.config.ts) has its workers
 * as sibling .js files; run from sources (`tsx src/server/cli.ts`), it starts them from their .ts files via tsx.
 */
import { dirname, join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { fileWorkerEntry, tsxWorkerEntry, type WorkerEntry } from '../service/worker-entry.ts';

const here = fileURLToPath(import.meta.url);
const fromSources = here.endsWith('.ts');

export function sampleWorkerEntry(): WorkerEntry {
  return fromSources
    ? tsxWorkerEntry(pathToFileURL(join(dirname(here), '../worker/sample.worker.ts')))
    : fileWorkerEntry(join(dirname(here), 'sample.worker.js'));
}

export function modelSampleWorkerEntry(): WorkerEntry {
  return fromSources
    ? tsxWorkerEntry(pathToFileURL(join(dirname(here), '../worker/model-sample.worker.ts')))
    : fileWorkerEntry(join(dirname(here), 'model-sample.worker.js'));
}

export function trainWorkerEntry(): WorkerEntry {
  return fromSources
    ? tsxWorkerEntry(pathToFileURL(join(dirname(here), '../worker/train.worker.ts')))
    : fileWorkerEntry(join(dirname(here), 'train.worker.js'));
}

export function compareWorkerEntry(): WorkerEntry {
  return fromSources
    ? tsxWorkerEntry(pathToFileURL(join(dirname(here), '../worker/compare.worker.ts')))
    : fileWorkerEntry(join(dirname(here), 'compare.worker.js'));
}

/** The web build of the renderer: out/web next to out/server, or under the repo's out/ when run from sources. */
export function defaultStaticDir(): string {
  return fromSources ? join(dirname(here), '../../out/web') : join(dirname(here), '../web');
}
