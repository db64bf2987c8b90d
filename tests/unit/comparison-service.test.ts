/**
 * Comparisons through the studio service, in real compare workers: cells from one noise (each equal to the same
 * sampler run alone), stored and reopened with trajectories, re-run to identical cells, cancelled, rejected with
 * clear errors, and exported as a labeled grid PNG (whole or tiled) with provenance chunks and a sidecar.
 */
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { afterEach, describe, expect, it } from 'vitest';
import type { ComparisonEvent, ComparisonRequest, StudioEvent } from '../../src/api/contract.ts';
import { readPngText } from '../../src/io/png-text.ts';
import { dataPaths } from '../../src/service/data-dir.ts';
import { cliCapture } from './helpers/run-cli.ts';
import { StudioService } from '../../src/service/studio-service.ts';
import { tsxWorkerEntry } from '../../src/service/worker-entry.ts';

const worker = (name: string) =>
  tsxWorkerEntry(pathToFileURL(join(import.meta.dirname, `../../src/worker/${name}.worker.ts`)));

const request: ComparisonRequest = {
  source: { kind: 'mixture', mixture: { preset: 'ring-8' }, formulation: 'vp', schedule: 'linear' },
  samplers: ['euler', 'dpmpp-2m'],
  steps: [10, 50],
  n: 64,
  seed: 7,
};

const dirs: string[] = [];
const services: StudioService[] = [];

function open(dataDir = mkdtempSync(join(tmpdir(), 'ds-compare-'))) {
  dirs.push(dataDir);
  const service = new StudioService({
    host: 'server',
    version: '0.0.0-test',
    dataDir,
    workers: { sample: worker('sample'), train: worker('train'), compare: worker('compare') },
    maxConcurrentJobs: 1,
  });
  services.push(service);
  return service;
}

/** A comparison's events until its final one. */
async function runToEnd(service: StudioService, start: () => Promise<{ jobId: string; comparisonId: string }>) {
  const events: ComparisonEvent[] = [];
  let jobId = '';
  let finish: (e: ComparisonEvent) => void = () => {};
  const final = new Promise<ComparisonEvent>((resolve) => (finish = resolve));
  const off = service.onEvent((e: StudioEvent) => {
    if (!e.type.startsWith('comparison-')) return;
    events.push(e as ComparisonEvent);
  });
  const handle = await start();
  jobId = handle.jobId;
  const poll = setInterval(() => {
    const end = events.find(
      (e) => e.jobId === jobId && ['comparison-done', 'comparison-cancelled', 'comparison-error'].includes(e.type),
    );
    if (end) finish(end);
  }, 10);
  const end = await final;
  clearInterval(poll);
  off();
  return { handle, end, events: events.filter((e) => e.jobId === jobId) };
}

type CellEvent = Extract<ComparisonEvent, { type: 'comparison-cell' }>;

afterEach(async () => {
  await Promise.all(services.splice(0).map((s) => s.close()));
  for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
});

describe('comparisons in the studio service', () => {
  it('streams a 2x2 comparison cell by cell, each cell equal to its sampler run alone from the same seed', async () => {
    const service = open();
    const { handle, end, events } = await runToEnd(service, () => service.startComparison(request));
    expect(end.type).toBe('comparison-done');
    expect(events[0]).toMatchObject({ type: 'comparison-started', rows: ['euler', 'dpmpp-2m'], steps: [10, 50] });
    const cells = events.filter((e): e is CellEvent => e.type === 'comparison-cell');
    expect(cells.map((c) => [c.cell.sampler, c.cell.steps])).toEqual([
      ['euler', 10],
      ['euler', 50],
      ['dpmpp-2m', 10],
      ['dpmpp-2m', 50],
    ]);
    for (const c of cells) {
      expect(c.samples).toBeInstanceOf(Float32Array);
      expect(c.samples.length).toBe(64 * 2);
      expect(c.cell.errorKind).toBe('ode');
      expect(c.cell.error).toBeGreaterThan(0);
      expect(c.cell.nfe).toBe(c.cell.steps);
    }
    // More steps, smaller error (deterministic samplers against the ODE solution from the same z).
    expect(cells[1].cell.error!).toBeLessThan(cells[0].cell.error!);
    expect(cells[3].cell.error!).toBeLessThan(cells[2].cell.error!);

    // The dpmpp-2m, 50-step cell is what the analytic sampling job gives for that sampler and seed alone.
    const alone = await new Promise<Float32Array>((resolve, reject) => {
      let id = '';
      service.onEvent((e) => {
        if (e.type === 'job-done' && e.jobId === id) resolve(e.x);
        if (e.type === 'job-error' && e.jobId === id) reject(new Error(e.error.message));
      });
      void service
        .sampleAnalytic({
          mixture: { preset: 'ring-8' },
          formulation: 'vp',
          schedule: 'linear',
          sampler: 'dpmpp-2m',
          steps: 50,
          n: 64,
          seed: 7,
        })
        .then((h) => (id = h.jobId));
    });
    let worst = 0;
    for (let i = 0; i < alone.length; i++) worst = Math.max(worst, Math.abs(alone[i] - cells[3].samples[i]));
    expect(worst).toBeLessThan(1e-4);

    // Stored: it reopens with the same cells, and a cell's trajectory ends at its samples.
    const list = await service.listComparisons();
    expect(list[0]).toMatchObject({ id: handle.comparisonId, status: 'completed', cellsDone: 4, cellsTotal: 4 });
    const view = await service.openComparison(handle.comparisonId);
    expect(view.cells).toHaveLength(4);
    expect(view.reference).toMatchObject({ sampler: 'heun', steps: 1000 });
    expect(Float32Array.from(view.cells[3].samples)).toEqual(cells[3].samples);
    const traj = await service.comparisonTrajectory({ id: handle.comparisonId, cell: 3 });
    expect(traj.sigmas).toHaveLength(51);
    expect(traj.sigmas[50]).toBe(0);
    expect(traj.sigmas[0]).toBeGreaterThan(traj.sigmas[1]);
    expect(traj.count).toBe(64);
    expect(traj.x).toHaveLength(51 * 64 * 2);
    expect(traj.x0).toHaveLength(50 * 64 * 2);
    expect(Float32Array.from(traj.x.slice(50 * 128))).toEqual(cells[3].samples);

    // Re-run: a new comparison with the same request gives identical cells.
    const again = await runToEnd(service, () => service.rerunComparison(handle.comparisonId));
    expect(again.end.type).toBe('comparison-done');
    expect(again.handle.comparisonId).not.toBe(handle.comparisonId);
    const cells2 = again.events.filter((e): e is CellEvent => e.type === 'comparison-cell');
    expect(cells2.map((c) => c.samples)).toEqual(cells.map((c) => c.samples));
    expect(cells2.map((c) => c.cell.error)).toEqual(cells.map((c) => c.cell.error));
  }, 60_000);

  it('cancels a long comparison, keeping the cells it finished', async () => {
    const service = open();
    const big: ComparisonRequest = { ...request, samplers: ['heun', 'euler'], steps: [1000, 999], n: 20_000 };
    let jobId = '';
    const off = service.onEvent((e) => {
      if (e.type === 'comparison-step' && e.jobId === jobId) void service.cancelJob(jobId);
    });
    const { end, handle } = await runToEnd(service, async () => {
      const h = await service.startComparison(big);
      jobId = h.jobId;
      return h;
    });
    off();
    expect(end.type).toBe('comparison-cancelled');
    const [row] = await service.listComparisons();
    expect(row).toMatchObject({ id: handle.comparisonId, status: 'cancelled' });
  }, 60_000);

  it('rejects bad requests with messages that name the field', async () => {
    const service = open();
    const bad = async (patch: Record<string, unknown>, message: RegExp, name = 'ValidationError') => {
      const err = await service.startComparison({ ...request, ...patch } as ComparisonRequest).catch((e: Error) => e);
      expect(err).toBeInstanceOf(Error);
      expect((err as Error).name).toBe(name);
      expect((err as Error).message).toMatch(message);
    };
    await bad({ samplers: ['nope'] }, /samplers: unknown sampler "nope"/);
    await bad({ samplers: [] }, /samplers must be a non-empty array/);
    await bad({ steps: [0, 4] }, /steps must hold integers in 1\.\.1000/);
    await bad({ steps: [4, 4] }, /steps has repeated values/);
    await bad({ eta: [0.5] }, /euler has no eta option/);
    await bad({ samplers: ['ddim'], eta: [2] }, /eta/);
    await bad({ guidance: [1, 2] }, /guidance needs a conditional run/);
    await bad({ n: 0 }, /n must be an integer/);
    await bad({ seed: -1 }, /seed must be a non-negative/);
    await bad({ source: { kind: 'x' } }, /source.kind/);
    await bad(
      { source: { ...request.source, mixture: { preset: 'nope' } } },
      /unknown mixture preset "nope"/,
      'NotFoundError',
    );
    await bad({ source: { kind: 'run', run: 'r_missing' } }, /no run r_missing/, 'NotFoundError');
    await expect(service.openComparison('x_missing')).rejects.toThrow(/no comparison x_missing/);
    expect(await service.listComparisons()).toEqual([]);
  });

  it('compares samplers on a trained run (its latest checkpoint, EMA), stored and re-run identically', async () => {
    const dataDir = mkdtempSync(join(tmpdir(), 'ds-compare-run-'));
    const paths = dataPaths(dataDir);
    const t = await cliCapture([
      'train',
      ...['--data', 'toy:ring', '--toy-size', '64', '--preset', 'tiny', '--batch', '8', '--steps', '2'],
      ...['--backend', 'cpu', '--seed', '3', '--db', paths.database, '--out', paths.runs],
    ]);
    expect(t.code).toBe(0);
    const run = /^run (r_\w+) /m.exec(t.out)![1];
    const service = open(dataDir);
    const runRequest: ComparisonRequest = {
      source: { kind: 'run', run, ema: true },
      samplers: ['ddim', 'euler'],
      steps: [2, 4],
      n: 8,
      seed: 1,
    };
    const first = await runToEnd(service, () => service.startComparison(runRequest));
    expect(first.end.type).toBe('comparison-done');
    const cells = first.events.filter((e): e is CellEvent => e.type === 'comparison-cell');
    expect(cells).toHaveLength(4);
    for (const c of cells) {
      expect(c.cell.error).toBeNull();
      expect(c.samples.length).toBe(8 * 2);
      expect(c.samples.every(Number.isFinite)).toBe(true);
    }
    const view = await service.openComparison(first.handle.comparisonId);
    expect(view.request.source).toEqual({ kind: 'run', run, ema: true });
    expect(view.shape).toEqual([2]);
    const traj = await service.comparisonTrajectory({ id: first.handle.comparisonId, cell: 3 });
    expect(traj.sigmas).toHaveLength(5);
    expect(traj.count).toBe(8);
    const again = await runToEnd(service, () => service.rerunComparison(first.handle.comparisonId));
    const cells2 = again.events.filter((e): e is CellEvent => e.type === 'comparison-cell');
    expect(cells2.map((c) => c.samples)).toEqual(cells.map((c) => c.samples));
    // The export's provenance names the run and its checkpoint hash.
    const out = await service.exportComparisonGrid({ id: first.handle.comparisonId });
    const text = readPngText(readFileSync(out.files[0].path));
    expect(text.run).toBe(run);
    expect(text['checkpoint-sha256']).toMatch(/^[0-9a-f]{64}$/);
    expect(text.ema).toBe('true');

    await expect(service.startComparison({ ...runRequest, guidance: [1, 2] })).rejects.toThrow(
      /guidance needs a conditional run/,
    );
    await expect(
      service.startComparison({ ...runRequest, source: { kind: 'run', run, checkpoint: 'c_nope' } }),
    ).rejects.toThrow(`run ${run} has no checkpoint c_nope`);
    await expect(service.startComparison({ ...runRequest, n: 1000 })).rejects.toThrow(
      /n must be an integer in 1\.\.256/,
    );
  }, 120_000);

  it('exports a labeled grid PNG with provenance chunks and a sidecar, tiled when it exceeds maxSide', async () => {
    const service = open();
    const { handle } = await runToEnd(service, () => service.startComparison(request));
    const whole = await service.exportComparisonGrid({ id: handle.comparisonId });
    expect(whole.tiles).toBe(1);
    expect(whole.files.map((f) => f.name)).toEqual([
      `comparison-${handle.comparisonId}.png`,
      `comparison-${handle.comparisonId}.png.json`,
    ]);
    const png = readFileSync(whole.files[0].path);
    const width = png.readUInt32BE(16);
    const height = png.readUInt32BE(20);
    // 2 columns of 170-px cells after the 150-px label column; 2 rows of 160-px scatters + captions.
    expect(width).toBe(150 + 2 * 180 + 10);
    expect(height).toBe(66 + 2 * (160 + 18 + 10) + 10);
    const text = readPngText(png);
    expect(text.comparison).toBe(handle.comparisonId);
    expect(text.seed).toBe('7');
    const cells = JSON.parse(text.cells) as { sampler: string; steps: number; seed: number }[];
    expect(cells.map((c) => `${c.sampler}:${c.steps}:${c.seed}`)).toEqual([
      'euler:10:7',
      'euler:50:7',
      'dpmpp-2m:10:7',
      'dpmpp-2m:50:7',
    ]);
    const sidecar = JSON.parse(readFileSync(whole.files[1].path, 'utf8'));
    expect(sidecar.grid).toMatchObject({ width, height });
    expect(sidecar.cells).toHaveLength(4);

    // At most 400 px a side, the 530 x 452 grid becomes 2 x 2 tiles of one cell each, all labeled.
    const tiled = await service.exportComparisonGrid({ id: handle.comparisonId, maxSide: 400 });
    expect(tiled.tiles).toBe(4);
    expect(tiled.files).toHaveLength(5);
    const seen: string[] = [];
    for (const f of tiled.files.slice(0, 4)) {
      const tile = readFileSync(f.path);
      expect(tile.readUInt32BE(16)).toBeLessThanOrEqual(400);
      expect(tile.readUInt32BE(20)).toBeLessThanOrEqual(400);
      const t = readPngText(tile);
      for (const c of JSON.parse(t.cells) as { sampler: string; steps: number }[]) seen.push(`${c.sampler}:${c.steps}`);
      expect(t.tile).toMatch(/^[1-4]\/4$/);
    }
    expect(seen).toEqual(['euler:10', 'euler:50', 'dpmpp-2m:10', 'dpmpp-2m:50']);
    const tiles = JSON.parse(readFileSync(tiled.files[4].path, 'utf8'));
    expect(tiles.tiles.map((t: { file: string }) => t.file)).toEqual(tiled.files.slice(0, 4).map((f) => f.name));
    await expect(service.exportComparisonGrid({ id: handle.comparisonId, maxSide: 100 })).rejects.toThrow(
      /maxSide must be an integer in 256/,
    );
    await expect(service.exportComparisonGrid({ id: handle.comparisonId, maxSide: 300 })).rejects.toThrow(
      /smaller than one labeled cell/,
    );
  }, 60_000);
});
