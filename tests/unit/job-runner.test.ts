// The job runner's worker lifecycle: a worker that has posted its final message gets to finish its cleanup (an
// onnxruntime session's release, a database close) and exit on its own. Terminating it there aborted the whole
// process now and then ("terminate called after throwing an instance of 'Napi::Error'").
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { JobRunner, type Job } from '../../src/service/job-runner.ts';
import { tsxWorkerEntry } from '../../src/service/worker-entry.ts';

const dir = mkdtempSync(join(tmpdir(), 'ds-job-runner-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));
const entry = tsxWorkerEntry(new URL('./helpers/cleanup.worker.ts', import.meta.url));

function cleanupJob(id: string, marker: string, log: string[]): Job {
  return {
    id,
    entry,
    kind: 'cleanup',
    start: { type: 'start', jobId: id, marker, cleanupMs: 300 } as Job['start'],
    completedSteps: 0,
    message: (m) => void log.push(`${id}:${m.type}`),
    ended: (outcome) => void log.push(`${id}:ended:${outcome.cancelled ? 'cancelled' : outcome.error.message}`),
  };
}

describe('JobRunner', () => {
  it('lets a finished worker clean up and exit instead of terminating it, and close() waits for that', async () => {
    const runner = new JobRunner(1);
    const log: string[] = [];
    const markers = [join(dir, 'a'), join(dir, 'b')];
    const done = new Promise<void>((resolve) => {
      const check = setInterval(() => {
        if (log.filter((l) => l.endsWith(':done')).length === 2) {
          clearInterval(check);
          resolve();
        }
      }, 10);
    });
    runner.submit(cleanupJob('a', markers[0], log));
    runner.submit(cleanupJob('b', markers[1], log));
    await done;
    await runner.close();
    expect(log).toEqual(['a:done', 'b:done']);
    // Both cleanups ran to the end: neither worker was cut off after its final message.
    expect(markers.map((m) => existsSync(m))).toEqual([true, true]);
  });
});
