import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { afterEach, describe, expect, it } from 'vitest';
import type { AnalyticSampleRequest, StudioEvent } from '../../src/api/contract.ts';
import { readNpy } from '../../src/io/npy-file.ts';
import { dataPaths, resolveDataDir } from '../../src/service/data-dir.ts';
import { StudioService } from '../../src/service/studio-service.ts';
import { tsxWorkerEntry, type WorkerEntry } from '../../src/service/worker-entry.ts';
import { openStore } from '../../src/store/open.ts';

const sampleWorker = tsxWorkerEntry(pathToFileURL(join(import.meta.dirname, '../../src/worker/sample.worker.ts')));
const trainWorker = tsxWorkerEntry(pathToFileURL(join(import.meta.dirname, '../../src/worker/train.worker.ts')));

const request: AnalyticSampleRequest = {
  mixture: { preset: 'ring-8' },
  formulation: 'vp',
  schedule: 'linear',
  steps: 8,
  sampler: 'dpmpp-2m',
  seed: 3,
  n: 50,
};

const dirs: string[] = [];
const services: StudioService[] = [];

function open(worker: WorkerEntry = sampleWorker, dataDir = mkdtempSync(join(tmpdir(), 'ds-service-'))) {
  dirs.push(dataDir);
  const service = new StudioService({
    host: 'server',
    version: '0.0.0-test',
    dataDir,
    workers: { sample: worker, train: trainWorker },
  });
  services.push(service);
  return service;
}

/** Collects a job's events until its final one. */
function collect(service: StudioService, jobId: () => string | undefined) {
  const events: StudioEvent[] = [];
  const done = new Promise<StudioEvent>((resolve) => {
    service.onEvent((e) => {
      events.push(e);
      if ('jobId' in e && e.jobId === jobId() && ['job-done', 'job-cancelled', 'job-error'].includes(e.type))
        resolve(e);
    });
  });
  return { events, done };
}

afterEach(async () => {
  await Promise.all(services.splice(0).map((s) => s.close()));
  for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
});

describe('StudioService', () => {
  it('runs a sampling job in a worker thread, streams every step and records the sample set', async () => {
    const service = open();
    const job = { id: '' };
    const { events, done } = collect(service, () => job.id);
    job.id = (await service.sampleAnalytic(request)).jobId;
    const final = await done;
    expect(final).toMatchObject({ type: 'job-done' });
    const mine = events.filter((e) => 'jobId' in e && e.jobId === job.id);
    expect(mine.map((e) => e.type)).toEqual(['job-started', ...Array(8).fill('job-step'), 'job-done']);
    const started = mine[0] as Extract<StudioEvent, { type: 'job-started' }>;
    expect(started.threadId).toBeGreaterThan(0);
    expect(started.sigmas).toBeInstanceOf(Float64Array);
    expect(started.sigmas.length).toBe(9);
    const step = mine[3] as Extract<StudioEvent, { type: 'job-step' }>;
    expect(step).toMatchObject({ i: 2, steps: 8, nfe: 3 });
    expect(step.x).toBeInstanceOf(Float32Array);
    expect(step.x.length).toBe(100);

    const doneEvent = final as Extract<StudioEvent, { type: 'job-done' }>;
    expect(doneEvent.nfe).toBe(8);
    const sets = await service.listSampleSets();
    expect(sets).toHaveLength(1);
    expect(sets[0]).toMatchObject({ id: doneEvent.sampleSetId, sampler: 'dpmpp-2m', steps: 8, n: 50, seed: 3 });
    const npy = await readNpy(sets[0].path);
    expect(npy.shape).toEqual([50, 2]);
    expect(Array.from(npy.data as Float32Array)).toEqual(Array.from(doneEvent.x));
  });

  it('cancels a running job through a message', async () => {
    const service = open();
    const job = { id: '' };
    let steps = 0;
    const { done } = collect(service, () => job.id);
    service.onEvent((e) => {
      if ('jobId' in e && e.jobId === job.id && e.type === 'job-step' && ++steps === 2) void service.cancelJob(job.id);
    });
    job.id = (await service.sampleAnalytic({ ...request, sampler: 'ddpm', steps: 1000, n: 2000 })).jobId;
    const final = await done;
    expect(final).toMatchObject({ type: 'job-cancelled' });
    expect((final as Extract<StudioEvent, { type: 'job-cancelled' }>).completedSteps).toBeLessThan(1000);
    expect(await service.listSampleSets()).toHaveLength(0);
    expect(await service.cancelJob(job.id)).toBe(false);
  });

  it('reports a crashed or vanished worker as job-error instead of hanging', async () => {
    for (const [script, message] of [
      ['throw new Error("worker blew up")', /worker blew up/],
      ['process.exit(3)', /exited \(code 3\)/],
    ] as const) {
      const service = open({ script, options: { eval: true } });
      const job = { id: '' };
      const { done } = collect(service, () => job.id);
      job.id = (await service.sampleAnalytic(request)).jobId;
      const final = await done;
      expect(final.type).toBe('job-error');
      expect((final as Extract<StudioEvent, { type: 'job-error' }>).error.message).toMatch(message);
    }
  });

  it('rejects bad requests before any worker starts', async () => {
    const service = open();
    await expect(service.sampleAnalytic({ ...request, steps: 0 })).rejects.toMatchObject({ name: 'ValidationError' });
    await expect(service.sampleAnalytic({ ...request, sampler: 'nope' as 'euler' })).rejects.toMatchObject({
      name: 'ValidationError',
    });
    await expect(service.sampleAnalytic({ ...request, samplerOptions: { churn: 1 } })).rejects.toMatchObject({
      name: 'ValidationError',
    });
    await expect(
      service.sampleAnalytic({ ...request, sampler: 'ddim', samplerOptions: { eta: 2 } }),
    ).rejects.toMatchObject({ name: 'ValidationError', message: expect.stringContaining('eta') });
    await expect(service.sampleAnalytic({ ...request, mixture: { preset: 'nope' } })).rejects.toMatchObject({
      name: 'NotFoundError',
    });
    await expect(
      service.sampleAnalytic({ ...request, mixture: { weights: [1], means: [[0, 0]], stds: [-1] } }),
    ).rejects.toMatchObject({ name: 'ValidationError', message: expect.stringContaining('stds') });
  });

  it('lists samplers, schedules and presets in info()', async () => {
    const info = await open().info();
    expect(info).toMatchObject({ host: 'server', version: '0.0.0-test' });
    expect(info.samplers.map((s) => s.name)).toContain('dpmpp-2m');
    expect(info.schedules.map((s) => s.name)).toEqual(expect.arrayContaining(['linear', 'cosine', 'karras']));
    expect(info.mixturePresets.length).toBeGreaterThan(3);
  });

  it('marks runs left running by a previous session as interrupted', async () => {
    const dataDir = mkdtempSync(join(tmpdir(), 'ds-service-'));
    const store = openStore(dataPaths(dataDir).database);
    const run = store.createRun({ name: 'left running', kind: 'train', config: {}, status: 'running' });
    store.close();
    const service = open(sampleWorker, dataDir);
    const runs = await service.listRuns();
    expect(runs.find((r) => r.id === run.id)?.status).toBe('interrupted');
  });
});

describe('StudioService training', () => {
  const toy = { data: { kind: 'toy' as const, toy: 'ring' as const, toySize: 512 } };

  /** Resolves with the first train-state event of `runId` in one of `states`. */
  function nextState(service: StudioService, runId: string, states: string[]) {
    return new Promise<Extract<StudioEvent, { type: 'train-state' }>>((resolve) => {
      const off = service.onEvent((e) => {
        if (e.type === 'train-state' && e.runId === runId && states.includes(e.state)) {
          off();
          resolve(e);
        }
      });
    });
  }

  it("rejects bad configs with the config validator's message", async () => {
    const service = open();
    await expect(service.createTrainingRun({ ...toy, steps: 0 })).rejects.toMatchObject({
      name: 'ValidationError',
      message: expect.stringContaining('steps must be an integer'),
    });
    await expect(
      service.createTrainingRun({ ...toy, conditional: true, data: { kind: 'toy', toy: 'checkerboard' } }),
    ).rejects.toMatchObject({ name: 'ValidationError', message: expect.stringContaining('class labels') });
    await expect(
      service.createTrainingRun({ data: { kind: 'folder', dir: '/definitely/not/here' } }),
    ).rejects.toMatchObject({
      name: 'ValidationError',
    });
    await expect(service.getRun('nope')).rejects.toMatchObject({ name: 'NotFoundError' });
  });

  it('trains a toy run in a worker, stops it with a checkpoint and resumes it to completion', async () => {
    const service = open();
    const run = await service.createTrainingRun({
      ...toy,
      steps: 40,
      batchSize: 32,
      checkpointEvery: 20,
      previewEvery: 10,
      previewCount: 8,
      previewSteps: 4,
      backend: 'cpu',
    });
    expect(run).toMatchObject({ status: 'created', dataset: 'toy:ring', preset: 'tiny' });
    const events: StudioEvent[] = [];
    service.onEvent((e) => events.push(e));

    // Stop as soon as the first progress report arrives.
    const stopOnProgress = service.onEvent((e) => {
      if (e.type === 'train-progress' && e.runId === run.id) {
        stopOnProgress();
        void service.stopTraining(run.id);
      }
    });
    const stopped = nextState(service, run.id, ['stopped', 'completed', 'failed']);
    await service.startTraining(run.id);
    expect((await stopped).state).toBe('stopped');
    const afterStop = await service.getRun(run.id);
    expect(afterStop.run.status).toBe('cancelled');
    expect(afterStop.checkpoints.length).toBeGreaterThan(0);
    expect(afterStop.live).toBe(false);

    const completed = nextState(service, run.id, ['completed', 'failed']);
    await service.startTraining(run.id);
    expect(await completed).toMatchObject({ state: 'completed', step: 40 });
    const detail = await service.getRun(run.id);
    expect(detail.run.status).toBe('completed');
    expect(detail.config?.steps).toBe(40);
    expect(detail.checkpoints.at(-1)?.step).toBe(40);

    const metrics = await service.runMetrics({ runId: run.id, names: ['loss'], sinceStep: 30 });
    expect(metrics.loss.map((p) => p.step)).toEqual([31, 32, 33, 34, 35, 36, 37, 38, 39, 40]);
    const previews = events.filter((e) => e.type === 'train-preview');
    expect(previews.length).toBeGreaterThan(0);
    const preview = previews[0] as Extract<StudioEvent, { type: 'train-preview' }>;
    expect(preview.shape).toEqual([2]);
    expect(preview.samples).toBeInstanceOf(Float32Array);
    expect(preview.samples.length).toBe(8 * 2);
    expect(events.some((e) => e.type === 'train-checkpoint')).toBe(true);
    expect(events.some((e) => e.type === 'train-log')).toBe(true);
    await expect(service.startTraining(run.id)).rejects.toMatchObject({ name: 'ValidationError' });
  }, 60_000);

  it('shows a run a previous session left running as interrupted, and trains it again', async () => {
    const dataDir = mkdtempSync(join(tmpdir(), 'ds-service-'));
    const store = openStore(dataPaths(dataDir).database);
    const config = { ...toy, steps: 12, batchSize: 16, checkpointEvery: 6, backend: 'cpu' };
    const left = store.createRun({ name: 'left running', kind: 'train', config, status: 'running' });
    store.close();
    const service = open(sampleWorker, dataDir);
    const detail = await service.getRun(left.id);
    expect(detail.run.status).toBe('interrupted');
    expect(detail.live).toBe(false);
    const completed = nextState(service, left.id, ['completed', 'failed']);
    await service.startTraining(left.id);
    expect(await completed).toMatchObject({ state: 'completed', step: 12 });
  }, 60_000);
});

describe('resolveDataDir', () => {
  it('prefers the explicit path, then DIFFUSION_STUDIO_HOME, then ~/.diffusion-studio', () => {
    expect(resolveDataDir('/a', { DIFFUSION_STUDIO_HOME: '/b' })).toBe('/a');
    expect(resolveDataDir(undefined, { DIFFUSION_STUDIO_HOME: '/b' })).toBe('/b');
    expect(resolveDataDir(undefined, {})).toMatch(/\.diffusion-studio$/);
    expect(existsSync('/definitely/not/here')).toBe(false);
  });
});
