/** Training as a worker-thread job: progress streams in, pause / resume / stop work, and a stopped run resumes. */
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { tsxWorkerEntry } from '../../src/service/worker-entry.ts';
import { TrainingJobs, type TrainingEvent } from '../../src/service/training-jobs.ts';
import { openStore } from '../../src/store/open.ts';
import { resolveTrainConfig } from '../../src/train/config.ts';

const home = mkdtempSync(join(tmpdir(), 'ds-train-worker-'));
const dbPath = join(home, 'studio.db');
const store = openStore(dbPath);
const events: TrainingEvent[] = [];
const waiters: { match: (e: TrainingEvent) => boolean; resolve: (e: TrainingEvent) => void }[] = [];
const jobs = new TrainingJobs({
  entry: tsxWorkerEntry(new URL('../../src/worker/train.worker.ts', import.meta.url)),
  store,
  dbPath,
  runsDir: join(home, 'runs'),
  onEvent: (e) => {
    events.push(e);
    for (const w of waiters.splice(0)) {
      if (w.match(e)) w.resolve(e);
      else waiters.push(w);
    }
  },
});
afterAll(async () => {
  await jobs.close();
  store.close();
});

function next(match: (e: TrainingEvent) => boolean, timeoutMs = 30_000): Promise<TrainingEvent> {
  return new Promise((resolve, reject) => {
    const timer = setTimeout(
      () => reject(new Error(`timed out; last events: ${events.slice(-3).map((e) => e.type)}`)),
      timeoutMs,
    );
    waiters.push({ match, resolve: (e) => (clearTimeout(timer), resolve(e)) });
  });
}

describe('training worker', () => {
  it('streams progress, pauses, resumes, stops and resumes from its checkpoint', async () => {
    const config = resolveTrainConfig({
      data: { kind: 'toy', toySize: 512 },
      batchSize: 16,
      steps: 150,
      checkpointEvery: 50,
      backend: 'cpu',
      previewEvery: 20,
      previewCount: 8,
      previewSteps: 5,
    });
    const run = store.createRun({ name: 'worker', kind: 'train', config: config as never });
    jobs.start(run.id, false);
    expect(() => jobs.start(run.id, false)).toThrow(/already training/);
    const progress = await next((e) => e.type === 'progress');
    expect(progress.type === 'progress' && progress.progress.runId).toBe(run.id);
    const preview = await next((e) => e.type === 'preview');
    expect(preview.type === 'preview' && preview.samples.length).toBe(8 * 2);

    expect(jobs.pause(run.id)).toBe(true);
    await next((e) => e.type === 'paused');
    expect(store.getRun(run.id)!.status).toBe('paused');
    const before = events.length;
    await new Promise((r) => setTimeout(r, 300));
    expect(events.slice(before).some((e) => e.type === 'progress')).toBe(false);
    jobs.resume(run.id);
    await next((e) => e.type === 'resumed');
    await next((e) => e.type === 'progress');

    jobs.stop(run.id);
    const done = await next((e) => e.type === 'done');
    expect(done.type === 'done' && done.outcome.status).toBe('stopped');
    const stoppedAt = done.type === 'done' ? done.outcome.step : -1;
    expect(stoppedAt).toBeGreaterThan(0);
    expect(stoppedAt).toBeLessThan(150);
    expect(store.getRun(run.id)!.status).toBe('cancelled');
    expect(store.listCheckpoints(run.id).at(-1)!.step).toBe(stoppedAt);
    await new Promise((r) => setTimeout(r, 100));
    expect(jobs.isRunning(run.id)).toBe(false);

    jobs.start(run.id, true);
    const finished = await next((e) => e.type === 'done', 60_000);
    expect(finished.type === 'done' && finished.outcome).toMatchObject({ status: 'completed', step: 150 });
    expect(store.getRun(run.id)!.status).toBe('completed');
    expect(store.metrics(run.id, 'loss').map((p) => p.step)).toEqual(Array.from({ length: 150 }, (_, i) => i + 1));
  }, 90_000);

  it('reports a failing run as an error event and records it', async () => {
    const config = resolveTrainConfig({
      data: { kind: 'folder', dir: join(home, 'no-such-folder') },
      steps: 2,
      backend: 'cpu',
    });
    const run = store.createRun({ name: 'bad', kind: 'train', config: config as never });
    jobs.start(run.id, false);
    const err = await next((e) => e.type === 'error');
    expect(err.type === 'error' && err.error.message).toMatch(/no-such-folder/);
    expect(store.getRun(run.id)!.status).toBe('failed');
  });
});
