// Job workers run below normal priority on Linux without touching the host's main thread.
import { getPriority } from 'node:os';
import { describe, expect, it } from 'vitest';
import { spawnWorker, tsxWorkerEntry } from '../../src/service/worker-entry.ts';
import { lowerWorkerPriority, WORKER_NICE } from '../../src/worker/background-priority.ts';

describe('background priority of job workers', () => {
  it.runIf(process.platform === 'linux')('lowers the worker thread only', async () => {
    const before = getPriority();
    const worker = spawnWorker(tsxWorkerEntry(new URL('./fixtures/priority-probe.worker.ts', import.meta.url)));
    const seen = await new Promise<{ set: number | null; now: number }>((resolve, reject) => {
      worker.once('message', resolve);
      worker.once('error', reject);
    });
    await worker.terminate();
    // Niceness only goes up without privileges: a process already nicer than WORKER_NICE stays where it is.
    expect(seen.now).toBe(Math.max(before, WORKER_NICE));
    expect(seen.set).toBe(seen.now);
    expect(getPriority()).toBe(before);
  });

  it('does nothing outside Linux (there it would reprioritize the whole process)', () => {
    expect(lowerWorkerPriority('win32')).toBeNull();
    expect(lowerWorkerPriority('darwin')).toBeNull();
  });
});
