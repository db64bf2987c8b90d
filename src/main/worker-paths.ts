/**
 * Worker bundles of the desktop app. In a packaged app they are unpacked next to app.asar (electron-builder.yml
 * asarUnpack), because a worker thread starts from a real file; the path electron-vite computes points inside the
 * archive, so map it to the unpacked copy.
 */
import { sep } from 'node:path';
import sampleWorkerPath from '../worker/sample.worker.ts?modulePath';
import trainWorkerPath from '../worker/train.worker.ts?modulePath';
import modelSampleWorkerPath from '../worker/model-sample.worker.ts?modulePath';
import compareWorkerPath from '../worker/compare.worker.ts?modulePath';
import { fileWorkerEntry, type WorkerEntry } from '../service/worker-entry.ts';

function unpacked(path: string): string {
  return path.replace(`${sep}app.asar${sep}`, `${sep}app.asar.unpacked${sep}`);
}

export function workerEntries(): {
  sample: WorkerEntry;
  train: WorkerEntry;
  compare: WorkerEntry;
  modelSample: WorkerEntry;
} {
  return {
    sample: fileWorkerEntry(unpacked(sampleWorkerPath)),
    train: fileWorkerEntry(unpacked(trainWorkerPath)),
    compare: fileWorkerEntry(unpacked(compareWorkerPath)),
    modelSample: fileWorkerEntry(unpacked(modelSampleWorkerPath)),
  };
}
