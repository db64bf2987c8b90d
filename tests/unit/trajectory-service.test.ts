/**
 * The service's trajectory calls against real runs trained for a few steps in real workers: sampleRun streams the
 * preview samples' x_t and x0 step by step and gives exactly the CLI's samples; the trajectory is stored (row +
 * .npy), listed and replayed after a restart; strips and animations are exported with provenance; bad requests are
 * refused with messages that name the field; analytic jobs store their trajectory too.
 */
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { JobEvent, RunSampleRequest, StudioEvent } from '../../src/api/contract.ts';
import { readNpy } from '../../src/io/npy-file.ts';
import { readPngText } from '../../src/io/png-text.ts';
import { dataPaths } from '../../src/service/data-dir.ts';
import { StudioService } from '../../src/service/studio-service.ts';
import { tsxWorkerEntry } from '../../src/service/worker-entry.ts';
import { cliCapture } from './helpers/run-cli.ts';
import { writeTinyIdx } from './helpers/tiny-idx.ts';

const worker = (name: string) =>
  tsxWorkerEntry(pathToFileURL(join(import.meta.dirname, `../../src/worker/${name}.worker.ts`)));
const workers = { sample: worker('sample'), train: worker('train'), modelSample: worker('model-sample') };

const root = mkdtempSync(join(tmpdir(), 'ds-trajectory-'));
const dataDir = join(root, 'studio');
let service: StudioService;

function open(): StudioService {
  return new StudioService({ host: 'server', version: '0.0.0-test', dataDir, workers, maxConcurrentJobs: 1 });
}

/** Runs a job to its end and returns its events (job-started ... job-done / cancelled / error). */
async function runJob(start: () => Promise<{ jobId: string }>, onEvent?: (e: JobEvent, jobId: string) => void) {
  const events: JobEvent[] = [];
  let jobId = '';
  let resolve!: () => void;
  const ended = new Promise<void>((r) => (resolve = r));
  const off = service.onEvent((e: StudioEvent) => {
    if (!('jobId' in e) || e.type.startsWith('comparison')) return;
    const je = e as JobEvent;
    events.push(je);
    if (jobId && je.jobId === jobId) onEvent?.(je, jobId);
    if (['job-done', 'job-cancelled', 'job-error'].includes(je.type) && (!jobId || je.jobId === jobId)) resolve();
  });
  jobId = (await start()).jobId;
  await ended;
  off();
  return events.filter((e) => e.jobId === jobId);
}

async function trainRun(config: Record<string, unknown>): Promise<string> {
  const run = await service.createTrainingRun(config as never);
  const finished = new Promise<void>((resolve) =>
    service.onEvent((e) => {
      if (e.type === 'train-state' && e.runId === run.id && ['completed', 'failed'].includes(e.state)) resolve();
    }),
  );
  await service.startTraining(run.id);
  await finished;
  expect((await service.getRun(run.id)).run.status).toBe('completed');
  return run.id;
}

let imageRun = '';
let toyRun = '';

beforeAll(async () => {
  const idx = join(root, 'idx');
  mkdirSync(idx, { recursive: true });
  writeTinyIdx(idx);
  service = open();
  // A conditional 8x8 U-Net and an unconditional 2-D MLP, each trained for a couple of steps.
  imageRun = await trainRun({
    data: { kind: 'mnist', dir: idx },
    conditional: true,
    steps: 2,
    batchSize: 2,
    checkpointEvery: 1,
    backend: 'wasm',
  });
  toyRun = await trainRun({
    data: { kind: 'toy', toy: 'swiss-roll', toySize: 64 },
    steps: 3,
    batchSize: 16,
    checkpointEvery: 3,
    backend: 'cpu',
  });
}, 120_000);

afterAll(async () => {
  await service.close();
  rmSync(root, { recursive: true, force: true });
});

const request: RunSampleRequest = {
  runId: '',
  sampler: 'ddim',
  samplerOptions: { eta: 0.5 },
  steps: 6,
  n: 5,
  preview: 3,
  seed: 4,
  classLabel: 1,
  guidance: 2,
  ema: true,
};

describe('sampleRun', () => {
  let live: JobEvent[] = [];

  it('samples a trained run in a worker, streams the preview samples and stores the trajectory', async () => {
    live = await runJob(() => service.sampleRun({ ...request, runId: imageRun }));
    expect(live.map((e) => e.type)).toEqual(['job-started', ...Array(6).fill('job-step'), 'job-done']);
    const started = live[0] as Extract<JobEvent, { type: 'job-started' }>;
    const detail = await service.getRun(imageRun);
    expect(started).toMatchObject({
      kind: 'sample-run',
      steps: 6,
      n: 5,
      dim: 64,
      shape: [8, 8, 1],
      preview: 3,
      formulation: 'vp',
      runId: imageRun,
      checkpointId: detail.checkpoints.at(-1)!.id,
    });
    expect(started.engine).toMatch(/^onnxruntime-/); // the default engine
    expect(started.threadId).toBeGreaterThan(0);
    expect(started.sigmas.length).toBe(7);
    const steps = live.filter((e) => e.type === 'job-step');
    expect(steps.map((s) => s.i)).toEqual([0, 1, 2, 3, 4, 5]);
    for (const s of steps) {
      expect(s.x).toBeInstanceOf(Float32Array);
      expect(s.x.length).toBe(3 * 64);
      expect(s.x0Pred.length).toBe(3 * 64);
      expect(s.sigma).toBe(started.sigmas[s.i]);
    }
    const done = live.at(-1) as Extract<JobEvent, { type: 'job-done' }>;
    expect(done.x.length).toBe(3 * 64);

    // Exactly the samples `sample --run` draws with the same seed, class, guidance and EMA weights.
    const cliOut = join(root, 'cli.npy');
    const paths = dataPaths(dataDir);
    const cli = await cliCapture([
      'sample',
      ...['--run', imageRun, '--ema', '--sampler', 'ddim', '--eta', '0.5', '--steps', '6', '--n', '5', '--seed', '4'],
      ...['--class', '1', '--guidance', '2', '--out', cliOut, '--db', paths.database],
    ]);
    expect(cli.code).toBe(0);
    const expected = (await readNpy(cliOut)).data as Float32Array;
    const set = (await service.listSampleSets()).find((s) => s.id === done.sampleSetId)!;
    const stored = await readNpy(set.path);
    expect(stored.shape).toEqual([5, 8, 8, 1]);
    expect(Array.from(stored.data)).toEqual(Array.from(expected));
    expect(Array.from(done.x)).toEqual(Array.from(expected.subarray(0, 3 * 64)));
    expect(set).toMatchObject({
      runId: imageRun,
      checkpointId: started.checkpointId,
      sampler: 'ddim',
      steps: 6,
      n: 5,
      seed: 4,
      options: { eta: 0.5, guidance: 2, class: 1 },
      model: { run: imageRun, ema: true },
    });

    const [listed] = await service.listTrajectories();
    expect(listed).toMatchObject({
      id: done.sampleSetId,
      source: 'run',
      runId: imageRun,
      count: 3,
      n: 5,
      shape: [8, 8, 1],
      formulation: 'vp',
      engine: started.engine,
    });
    expect(listed.sigmas).toEqual(Array.from(started.sigmas));
    expect(listed.label).toMatch(/ddim · 6 steps · seed 4/);
  }, 60_000);

  it('reopens the stored trajectory after a restart, step for step', async () => {
    await service.close();
    service = open();
    const [listed] = await service.listTrajectories();
    const replayed = await runJob(async () => {
      const opened = await service.openTrajectory(listed.id);
      expect(opened.trajectory.id).toBe(listed.id);
      return opened;
    });
    expect(replayed.map((e) => e.type)).toEqual(['job-started', ...Array(6).fill('job-step'), 'job-done']);
    expect(replayed[0]).toMatchObject({ replay: true, kind: 'sample-run', shape: [8, 8, 1], preview: 3 });
    for (let k = 1; k < live.length; k++) {
      const a = live[k] as Extract<JobEvent, { type: 'job-step' }>;
      const b = replayed[k] as Extract<JobEvent, { type: 'job-step' }>;
      expect(Array.from(b.x)).toEqual(Array.from(a.x));
      if (a.type === 'job-step') {
        expect(Array.from(b.x0Pred)).toEqual(Array.from(a.x0Pred));
        expect([b.i, b.sigma, b.nfe]).toEqual([a.i, a.sigma, a.nfe]);
      }
    }
    await expect(service.openTrajectory('s_nope')).rejects.toMatchObject({ name: 'NotFoundError' });
  }, 30_000);

  it('exports a strip PNG and APNG / GIF animations with provenance', async () => {
    const [t] = await service.listTrajectories();
    const detail = await service.getRun(imageRun);
    const checkpoint = detail.checkpoints.find((c) => c.id === t.checkpointId)!;
    const strip = await service.exportTrajectory({ trajectoryId: t.id, kind: 'strip' });
    expect(strip.path.startsWith(dataPaths(dataDir).exports)).toBe(true);
    expect(strip.url).toBe(`/exports/${strip.name}`);
    const png = readFileSync(strip.path);
    expect(png.subarray(1, 4).toString()).toBe('PNG');
    const text = readPngText(png);
    expect(text).toMatchObject({
      kind: 'trajectory-strip',
      run: imageRun,
      checkpoint: checkpoint.id,
      'checkpoint-sha256': checkpoint.sha256,
      ema: 'true',
      sampler: 'ddim',
      steps: '6',
      seed: '4',
    });
    expect(JSON.parse(text.options)).toEqual({ eta: 0.5, guidance: 2, class: 1 });
    expect(JSON.parse(readFileSync(`${strip.path}.json`, 'utf8'))).toMatchObject({ kind: 'trajectory-strip', n: 5 });

    const apng = await service.exportTrajectory({ trajectoryId: t.id, kind: 'animation' });
    const apngBytes = readFileSync(apng.path);
    expect(apngBytes.includes(Buffer.from('acTL'))).toBe(true);
    expect(readPngText(apngBytes)).toMatchObject({ kind: 'trajectory-animation', seed: '4' });
    const gif = await service.exportTrajectory({ trajectoryId: t.id, kind: 'animation', format: 'gif' });
    expect(gif.name).toMatch(/\.gif$/);
    expect(readFileSync(gif.path).subarray(0, 6).toString()).toBe('GIF89a');
    expect(existsSync(`${gif.path}.json`)).toBe(true);
    // A second strip never overwrites the first.
    const again = await service.exportTrajectory({ trajectoryId: t.id, kind: 'strip' });
    expect(again.name).not.toBe(strip.name);

    await expect(service.exportTrajectory({ trajectoryId: t.id, kind: 'movie' as 'strip' })).rejects.toMatchObject({
      name: 'ValidationError',
    });
    await expect(service.exportTrajectory({ trajectoryId: 'nope', kind: 'strip' })).rejects.toMatchObject({
      name: 'NotFoundError',
    });
  }, 60_000);

  it('refuses bad requests before any worker starts, naming the field', async () => {
    const image = { ...request, runId: imageRun };
    const toy: RunSampleRequest = { runId: toyRun, sampler: 'euler', steps: 5, n: 4, seed: 0 };
    const untrained = await service.createTrainingRun({ data: { kind: 'toy', toy: 'ring', toySize: 64 } });
    const cases: [RunSampleRequest, string, RegExp][] = [
      [{ ...toy, runId: 'r_nope' }, 'NotFoundError', /no run r_nope/],
      [{ ...toy, runId: untrained.id }, 'ValidationError', /has no checkpoint yet/],
      [{ ...toy, checkpointId: 'c_nope' }, 'NotFoundError', /no checkpoint c_nope/],
      [{ ...toy, sampler: 'nope' as 'euler' }, 'ValidationError', /^sampler must be one of/],
      [{ ...toy, samplerOptions: { churn: 1 } }, 'ValidationError', /"churn" is not an option of/],
      [{ ...toy, sampler: 'ddim', samplerOptions: { eta: 'high' } }, 'ValidationError', /"eta" .* must be a number/],
      [{ ...toy, sampler: 'ddim', samplerOptions: { eta: 2 } }, 'ValidationError', /samplerOptions: .*eta/],
      [{ ...toy, steps: 0 }, 'ValidationError', /^steps must be an integer in 1\.\.1000/],
      [{ ...toy, steps: 1001 }, 'ValidationError', /^steps must be/],
      [{ ...toy, n: 0 }, 'ValidationError', /^n must be an integer in 1\.\.256/],
      [{ ...toy, n: 4, preview: 5 }, 'ValidationError', /^preview must be an integer in 1\.\.4/],
      [{ ...toy, seed: -1 }, 'ValidationError', /^seed must be/],
      [{ ...toy, guidance: 2 }, 'ValidationError', /guidance needs a conditional run/],
      [{ ...toy, classLabel: 0 }, 'ValidationError', /classLabel needs a conditional run/],
      [{ ...image, classLabel: 10 }, 'ValidationError', /^classLabel must be an integer in 0\.\.9/],
      [{ ...image, guidance: -1 }, 'ValidationError', /^guidance must be a number in 0\.\.100/],
      [{ ...toy, engine: 'gpu' as 'onnx' }, 'ValidationError', /^engine must be tfjs or onnx/],
      [{ ...toy, spacing: 'odd' as 'linspace' }, 'ValidationError', /^spacing must be one of/],
    ];
    for (const [req, name, message] of cases) {
      const error = await service.sampleRun(req).then(
        () => null,
        (e: Error) => e,
      );
      expect(error, JSON.stringify(req)).toMatchObject({ name });
      expect(error!.message, JSON.stringify(req)).toMatch(message);
    }
    await expect(service.sampleRun(null as never)).rejects.toMatchObject({ name: 'ValidationError' });
  });

  it('samples an unconditional run on onnxruntime and cancels a long job without storing it', async () => {
    const onnx = await runJob(() =>
      service.sampleRun({ runId: toyRun, sampler: 'heun', steps: 4, n: 8, seed: 1, engine: 'onnx' }),
    );
    expect(onnx[0]).toMatchObject({ type: 'job-started', engine: 'onnxruntime-cpu', shape: [2], preview: 8 });
    expect(onnx.at(-1)).toMatchObject({ type: 'job-done', nfe: 7 });

    const before = (await service.listTrajectories()).length;
    const cancelled = await runJob(
      () => service.sampleRun({ runId: toyRun, sampler: 'ddpm', steps: 1000, n: 256, seed: 1 }),
      (e, jobId) => {
        if (e.type === 'job-step' && e.i === 2) void service.cancelJob(jobId);
      },
    );
    expect(cancelled.at(-1)).toMatchObject({ type: 'job-cancelled' });
    expect((await service.listTrajectories()).length).toBe(before);
  }, 60_000);
});

describe('deleting a run', () => {
  it('removes its stored trajectories with it', async () => {
    const mine = (await service.listTrajectories()).filter((t) => t.runId === toyRun);
    expect(mine.length).toBeGreaterThan(0);
    const folders = (await service.listSampleSets()).filter((s) => s.runId === toyRun).map((s) => s.trajectoryPath!);
    folders.forEach((f) => expect(existsSync(f)).toBe(true));
    await service.deleteRun(toyRun);
    expect((await service.listTrajectories()).filter((t) => t.runId === toyRun)).toEqual([]);
    folders.forEach((f) => expect(existsSync(f)).toBe(false));
  }, 30_000);
});

describe('analytic trajectories', () => {
  it('are stored with their sample set and replay exactly', async () => {
    const live = await runJob(() =>
      service.sampleAnalytic({
        mixture: { preset: 'ring-8' },
        formulation: 'vp',
        schedule: 'linear',
        steps: 5,
        sampler: 'dpmpp-2m',
        seed: 3,
        n: 40,
      }),
    );
    const done = live.at(-1) as Extract<JobEvent, { type: 'job-done' }>;
    const t = (await service.listTrajectories()).find((s) => s.id === done.sampleSetId)!;
    expect(t).toMatchObject({ source: 'analytic', count: 40, shape: [2], formulation: 'vp', runId: null });
    expect(t.label).toMatch(/^mixture ring-8 · dpmpp-2m · 5 steps/);
    const replayed = await runJob(() => service.openTrajectory(t.id));
    expect(replayed[0]).toMatchObject({ kind: 'sample-analytic', replay: true, n: 40, dim: 2 });
    expect(replayed.map((e) => e.type)).toEqual(live.map((e) => e.type));
    const lastLive = live.at(-1) as Extract<JobEvent, { type: 'job-done' }>;
    const lastReplay = replayed.at(-1) as Extract<JobEvent, { type: 'job-done' }>;
    expect(Array.from(lastReplay.x)).toEqual(Array.from(lastLive.x));
    expect([lastReplay.nfe, lastReplay.sampleSetId]).toEqual([lastLive.nfe, t.id]);
    const strip = await service.exportTrajectory({ trajectoryId: t.id, kind: 'strip' });
    expect(readPngText(readFileSync(strip.path))).toMatchObject({ kind: 'trajectory-strip', sampler: 'dpmpp-2m' });
  }, 30_000);

  it('are stored for samplers whose defaults JSON cannot hold (s_tmax = Infinity)', async () => {
    for (const sampler of ['euler', 'heun'] as const) {
      const events = await runJob(() =>
        service.sampleAnalytic({
          mixture: { preset: 'ring-8' },
          formulation: 'sigma',
          schedule: 'karras',
          steps: 3,
          sampler,
          seed: 0,
          n: 10,
        }),
      );
      const done = events.at(-1) as Extract<JobEvent, { type: 'job-done' }>;
      expect(done.type).toBe('job-done');
      const set = (await service.listSampleSets()).find((s) => s.id === done.sampleSetId)!;
      expect(set.options).toEqual({ s_churn: 0, s_tmin: 0, s_noise: 1 });
    }
  }, 30_000);
});
