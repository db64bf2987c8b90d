// A job worker that, like the model-sample and compare workers, posts `done` and then cleans up (here: waits, then
// writes a marker file) before its thread exits. job-runner.test.ts checks the runner lets it finish.
import { writeFileSync } from 'node:fs';
import { setTimeout as sleep } from 'node:timers/promises';
import { serveJob } from '../../../src/worker/job-worker.ts';

interface Start {
  type: 'start';
  jobId: string;
  marker: string;
  cleanupMs: number;
}

serveJob<Start, { type: 'done' }>('cleanup', async (start, job) => {
  try {
    job.post({ type: 'done' });
  } finally {
    await sleep(start.cleanupMs);
    writeFileSync(start.marker, 'cleaned up');
  }
});
