import Database from 'better-sqlite3';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Worker } from 'node:worker_threads';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { newId } from '../../src/store/ids.ts';
import { openMemoryStore, openStore } from '../../src/store/open.ts';
import type { Store } from '../../src/store/store.ts';
import type { MetricRow, NewRun } from '../../src/store/types.ts';

const SHA = 'c0ffee'.padEnd(64, '0');

let store: Store;
let clock: number;
beforeEach(() => {
  clock = 1_000_000;
  store = openMemoryStore({ now: () => clock++ });
});
afterEach(() => store.close());

const trainRun = (extra: Partial<NewRun> = {}) =>
  store.createRun({
    name: 'tiny fashion',
    kind: 'train',
    config: { lr: 2e-4, batch: 32 },
    ...extra,
  });

const checkpoint = (runId: string, step: number, pinned = false) =>
  store.addCheckpoint({
    runId,
    step,
    path: `/w/${runId}/${step}.safetensors`,
    sha256: SHA,
    bytes: 1024,
    pinned,
  });

describe('ids', () => {
  it('are unique and sort in creation order', () => {
    const ids = Array.from({ length: 2000 }, () => newId('r'));
    expect(new Set(ids).size).toBe(ids.length);
    expect([...ids].sort()).toEqual(ids);
    expect(ids[0]).toMatch(/^r_[0-9a-z]{14}$/);
    expect(newId('r', Date.now() + 1000) > ids[ids.length - 1]).toBe(true);
  });
});

describe('runs', () => {
  it('round-trip every field', () => {
    const parent = trainRun();
    const ckpt = checkpoint(parent.id, 10);
    const run = store.createRun({
      name: 'fork',
      kind: 'train',
      config: {
        lr: 1e-4,
        model: { channels: [32, 64], attention: true },
        note: null,
      },
      dataset: 'fashion-mnist',
      preset: 'tiny',
      engine: 'onnxruntime-cpu',
      parentRunId: parent.id,
      parentCheckpointId: ckpt.id,
      notes: 'lower lr',
    });
    expect(run.id).toMatch(/^r_/);
    expect(store.getRun(run.id)).toEqual({
      id: run.id,
      name: 'fork',
      kind: 'train',
      status: 'created',
      config: {
        lr: 1e-4,
        model: { channels: [32, 64], attention: true },
        note: null,
      },
      dataset: 'fashion-mnist',
      preset: 'tiny',
      engine: 'onnxruntime-cpu',
      createdAt: run.createdAt,
      updatedAt: run.createdAt,
      lastStep: 0,
      lastLoss: null,
      error: null,
      parentRunId: parent.id,
      parentCheckpointId: ckpt.id,
      notes: 'lower lr',
      pinned: false,
    });
    expect(store.getRun('nope')).toBeUndefined();
    expect(() => trainRun({ id: run.id })).toThrow(`A run with id ${run.id} already exists`);
    expect(() => trainRun({ parentRunId: 'ghost' })).toThrow(/parent run ghost or parent checkpoint - does not exist/);
  });

  it('list with last loss and checkpoint count, pinned first then newest first', () => {
    const a = trainRun({ name: 'a' });
    const b = trainRun({ name: 'b' });
    const c = store.createRun({ name: 'c', kind: 'analytic', config: {} });
    checkpoint(a.id, 100);
    checkpoint(a.id, 200);
    store.updateRunProgress(a.id, 200, 0.042);
    expect(store.listRuns().map((r) => [r.name, r.checkpointCount, r.lastStep, r.lastLoss])).toEqual([
      ['c', 0, 0, null],
      ['b', 0, 0, null],
      ['a', 2, 200, 0.042],
    ]);
    store.pinRun(a.id);
    expect(store.listRuns().map((r) => r.name)).toEqual(['a', 'c', 'b']);
    expect(store.listRuns({ kind: 'analytic' }).map((r) => r.id)).toEqual([c.id]);
    store.updateRunStatus(b.id, 'running');
    expect(store.listRuns({ status: 'running' }).map((r) => r.id)).toEqual([b.id]);
  });

  it('update status (with error), progress, name, notes and pinning', () => {
    const run = trainRun();
    const failed = store.updateRunStatus(run.id, 'failed', 'out of memory');
    expect(failed).toMatchObject({ status: 'failed', error: 'out of memory' });
    expect(failed.updatedAt).toBeGreaterThan(run.updatedAt);
    expect(store.updateRunStatus(run.id, 'running')).toMatchObject({
      status: 'running',
      error: null,
    });
    store.updateRunProgress(run.id, 5, NaN);
    expect(store.getRun(run.id)).toMatchObject({ lastStep: 5, lastLoss: null });
    store.updateRunProgress(run.id, 6, Infinity);
    expect(store.getRun(run.id)!.lastLoss).toBe(Infinity);
    expect(store.renameRun(run.id, 'renamed').name).toBe('renamed');
    expect(store.setRunNotes(run.id, 'note').notes).toBe('note');
    expect(store.pinRun(run.id).pinned).toBe(true);
    expect(store.pinRun(run.id, false).pinned).toBe(false);

    expect(() => store.updateRunStatus('ghost', 'running')).toThrow('No run ghost');
    expect(() => store.updateRunProgress('ghost', 1, 1)).toThrow('No run ghost');
    expect(() => store.renameRun(run.id, '')).toThrow('run name must be a non-empty string');
    expect(() => store.updateRunStatus(run.id, 'exploded' as never)).toThrow(
      /run status must be one of created, running/,
    );
    expect(() => store.updateRunProgress(run.id, 1.5, 0)).toThrow('last step must be an integer >= 0, got 1.5');
  });

  it('delete cascades to checkpoints, metrics and sample sets and returns their files', () => {
    const run = trainRun();
    const c1 = checkpoint(run.id, 1);
    checkpoint(run.id, 2);
    store.appendMetrics([{ runId: run.id, step: 1, name: 'loss', value: 1 }]);
    const set = store.createSampleSet({
      runId: run.id,
      checkpointId: c1.id,
      model: { run: run.id },
      sampler: 'euler',
      steps: 10,
      seed: 1,
      n: 4,
      path: '/s/a.npy',
    });
    store.createSampleSet({
      runId: run.id,
      model: { run: run.id },
      sampler: 'ddim',
      steps: 3,
      seed: 2,
      n: 2,
      path: '/s/b.npy',
      trajectoryPath: '/s/b.trajectory',
      trajectory: { sigmas: [2, 1, 0] },
    });
    const fork = trainRun({ parentRunId: run.id, parentCheckpointId: c1.id });
    const other = trainRun();
    checkpoint(other.id, 1);

    expect(store.deleteRun(run.id)).toEqual({
      checkpointPaths: [`/w/${run.id}/1.safetensors`, `/w/${run.id}/2.safetensors`],
      sampleSetPaths: ['/s/a.npy', '/s/b.npy'],
      trajectoryPaths: ['/s/b.trajectory'],
    });
    expect(store.getRun(run.id)).toBeUndefined();
    expect(store.listCheckpoints(run.id)).toEqual([]);
    expect(store.getCheckpoint(c1.id)).toBeUndefined();
    expect(store.metrics(run.id, 'loss')).toEqual([]);
    expect(store.getSampleSet(set.id)).toBeUndefined();
    // The fork survives with its provenance cleared; unrelated runs are untouched.
    expect(store.getRun(fork.id)).toMatchObject({
      parentRunId: null,
      parentCheckpointId: null,
    });
    expect(store.listCheckpoints(other.id)).toHaveLength(1);
    expect(store.deleteRun(run.id)).toBeUndefined();
  });

  it('markInterrupted turns what a crashed process left running into interrupted, once', () => {
    const running = trainRun();
    const paused = trainRun();
    const done = trainRun();
    const fresh = trainRun();
    store.updateRunStatus(running.id, 'running');
    store.updateRunStatus(paused.id, 'paused');
    store.updateRunStatus(done.id, 'completed');
    const cmp = store.createComparison({
      name: 'grid',
      spec: {},
      status: 'running',
    });
    const cmpDone = store.createComparison({
      name: 'old',
      spec: {},
      status: 'completed',
    });

    const changed = store.markInterrupted();
    expect(changed.runs.sort()).toEqual([running.id, paused.id].sort());
    expect(changed.comparisons).toEqual([cmp.id]);
    expect(store.getRun(running.id)!.status).toBe('interrupted');
    expect(store.getRun(paused.id)!.status).toBe('interrupted');
    expect(store.getRun(done.id)!.status).toBe('completed');
    expect(store.getRun(fresh.id)!.status).toBe('created');
    expect(store.getComparison(cmp.id)!.status).toBe('interrupted');
    expect(store.getComparison(cmpDone.id)!.status).toBe('completed');
    expect(store.markInterrupted()).toEqual({ runs: [], comparisons: [] });
  });
});

describe('checkpoints', () => {
  it('round-trip, and (run_id, step) is unique', () => {
    const run = trainRun();
    const other = trainRun();
    const c = store.addCheckpoint({
      runId: run.id,
      step: 500,
      path: '/w/500.safetensors',
      sha256: SHA.toUpperCase(),
      bytes: 123_456_789,
      metrics: { fid: 12.5, loss: 0.03 },
    });
    expect(store.getCheckpoint(c.id)).toEqual({
      id: c.id,
      runId: run.id,
      step: 500,
      path: '/w/500.safetensors',
      sha256: SHA,
      bytes: 123_456_789,
      pinned: false,
      createdAt: c.createdAt,
      metrics: { fid: 12.5, loss: 0.03 },
    });
    expect(() => checkpoint(run.id, 500)).toThrow(`Run ${run.id} already has a checkpoint at step 500`);
    expect(checkpoint(other.id, 500).step).toBe(500); // same step, other run: fine
    expect(() => checkpoint('ghost', 1)).toThrow('Cannot add a checkpoint: no run ghost');
    expect(() =>
      store.addCheckpoint({
        runId: run.id,
        step: 1,
        path: '/p',
        sha256: 'xyz',
        bytes: 1,
      }),
    ).toThrow(/sha256 must be 64 hex digits/);
    expect(() => checkpoint(run.id, -1)).toThrow('checkpoint step must be an integer >= 0, got -1');
  });

  it('list in step order, pin, and delete (returning the row for its file)', () => {
    const run = trainRun();
    for (const step of [300, 100, 200]) checkpoint(run.id, step);
    const list = store.listCheckpoints(run.id);
    expect(list.map((c) => c.step)).toEqual([100, 200, 300]);
    expect(store.pinCheckpoint(list[0].id).pinned).toBe(true);
    expect(store.pinCheckpoint(list[0].id, false).pinned).toBe(false);
    expect(() => store.pinCheckpoint('ghost')).toThrow('No checkpoint ghost');
    const set = store.createSampleSet({
      runId: run.id,
      checkpointId: list[1].id,
      model: {},
      sampler: 'ddim',
      steps: 50,
      seed: 3,
      n: 8,
      path: '/s/x.npy',
    });
    expect(store.deleteCheckpoint(list[1].id)).toMatchObject({
      step: 200,
      path: `/w/${run.id}/200.safetensors`,
    });
    expect(store.deleteCheckpoint(list[1].id)).toBeUndefined();
    expect(store.listCheckpoints(run.id).map((c) => c.step)).toEqual([100, 300]);
    expect(store.getSampleSet(set.id)!.checkpointId).toBeNull(); // ON DELETE SET NULL: the set keeps its model spec
  });

  it('pruning keeps the newest K, pinned ones, and fork origins', () => {
    const run = trainRun();
    const ckpts = Array.from({ length: 10 }, (_, i) => checkpoint(run.id, (i + 1) * 100));
    store.pinCheckpoint(ckpts[1].id); // step 200
    trainRun({ parentRunId: run.id, parentCheckpointId: ckpts[2].id }); // forked from step 300
    const other = trainRun();
    checkpoint(other.id, 50);

    expect(store.checkpointsToPrune(run.id, 3).map((c) => c.step)).toEqual([100, 400, 500, 600, 700]);
    expect(store.checkpointsToPrune(run.id, 0).map((c) => c.step)).toEqual([100, 400, 500, 600, 700, 800, 900, 1000]);
    expect(store.checkpointsToPrune(run.id, 10)).toEqual([]);
    expect(store.checkpointsToPrune(other.id, 0).map((c) => c.step)).toEqual([50]);
    expect(() => store.checkpointsToPrune(run.id, -1)).toThrow(/keepLast must be an integer >= 0/);

    for (const c of store.checkpointsToPrune(run.id, 3)) store.deleteCheckpoint(c.id);
    expect(store.listCheckpoints(run.id).map((c) => c.step)).toEqual([200, 300, 800, 900, 1000]);
    expect(store.checkpointsToPrune(run.id, 3)).toEqual([]);
  });
});

describe('metrics', () => {
  it('append 10k rows in one fast batch and query by step range', () => {
    const run = trainRun();
    const rows: MetricRow[] = [];
    for (let step = 1; step <= 5000; step++) {
      rows.push({
        runId: run.id,
        step,
        name: 'loss',
        value: 1 / step,
        wallTime: 1_700_000_000_000 + step,
      });
      rows.push({ runId: run.id, step, name: 'grad_norm', value: step % 7 });
    }
    const t0 = performance.now();
    store.appendMetrics(rows);
    const elapsed = performance.now() - t0;
    expect(elapsed).toBeLessThan(1500); // ~30 ms on a quiet machine; row-per-transaction would take far longer on disk

    expect(store.metricNames(run.id)).toEqual(['grad_norm', 'loss']);
    expect(store.metrics(run.id, 'loss')).toHaveLength(5000);
    const window = store.metrics(run.id, 'loss', 4000, 4010);
    expect(window.map((p) => p.step)).toEqual([4001, 4002, 4003, 4004, 4005, 4006, 4007, 4008, 4009, 4010]);
    expect(window[0]).toEqual({
      step: 4001,
      value: 1 / 4001,
      wallTime: 1_700_000_004_001,
    });
    expect(store.metrics(run.id, 'loss', 4998).map((p) => p.step)).toEqual([4999, 5000]);
    expect(store.metrics(run.id, 'grad_norm', undefined, 3).map((p) => p.value)).toEqual([1, 2, 3]);
    expect(store.metrics(run.id, 'missing')).toEqual([]);
  });

  it('store NaN, overwrite re-logged steps, and reject a bad batch as a whole', () => {
    const run = trainRun();
    store.appendMetrics([
      { runId: run.id, step: 1, name: 'loss', value: 0.5 },
      { runId: run.id, step: 2, name: 'loss', value: NaN },
      { runId: run.id, step: 3, name: 'loss', value: -Infinity },
    ]);
    const points = store.metrics(run.id, 'loss');
    expect(points[0].value).toBe(0.5);
    expect(points[1].value).toBeNaN();
    expect(points[2].value).toBe(-Infinity);
    expect(points[0].wallTime).toBeGreaterThan(0);

    // A run resumed from step 1 logs step 2 again: the new value replaces the old one.
    store.appendMetrics([{ runId: run.id, step: 2, name: 'loss', value: 0.25 }]);
    expect(store.metrics(run.id, 'loss').map((p) => p.value)).toEqual([0.5, 0.25, -Infinity]);

    const bad: MetricRow[] = [
      { runId: run.id, step: 10, name: 'loss', value: 1 },
      { runId: run.id, step: -1, name: 'loss', value: 1 },
    ];
    expect(() => store.appendMetrics(bad)).toThrow('metric step must be an integer >= 0, got -1');
    expect(store.metrics(run.id, 'loss', 3)).toEqual([]); // step 10 was rolled back with the rest
    expect(() => store.appendMetrics([{ runId: 'ghost', step: 1, name: 'loss', value: 1 }])).toThrow('No run ghost');
    store.appendMetrics([]);
  });
});

describe('sample sets', () => {
  it('round-trip for analytic models (no run) and for checkpoints, newest first', () => {
    const analytic = store.createSampleSet({
      model: { mixture: { weights: [0.5, 0.5], means: [[-1], [1]] } },
      sampler: 'heun',
      steps: 18,
      seed: 2 ** 53 - 1,
      n: 1000,
      path: '/s/gmm.npy',
    });
    expect(store.getSampleSet(analytic.id)).toEqual({
      id: analytic.id,
      runId: null,
      checkpointId: null,
      model: { mixture: { weights: [0.5, 0.5], means: [[-1], [1]] } },
      sampler: 'heun',
      steps: 18,
      options: {},
      seed: 2 ** 53 - 1,
      n: 1000,
      path: '/s/gmm.npy',
      createdAt: analytic.createdAt,
      trajectoryPath: null,
      trajectory: null,
    });
    const run = trainRun();
    const c = checkpoint(run.id, 10);
    const fromCkpt = store.createSampleSet({
      runId: run.id,
      checkpointId: c.id,
      model: { run: run.id, checkpoint: c.id },
      sampler: 'euler',
      steps: 20,
      options: { churn: 0.1 },
      seed: 7,
      n: 64,
      path: '/s/c.npy',
    });
    expect(store.listSampleSets().map((s) => s.id)).toEqual([fromCkpt.id, analytic.id]);
    expect(store.listSampleSets({ runId: run.id }).map((s) => s.id)).toEqual([fromCkpt.id]);
    expect(store.listSampleSets({ checkpointId: c.id })[0].options).toEqual({
      churn: 0.1,
    });
    expect(store.deleteSampleSet(analytic.id)!.path).toBe('/s/gmm.npy');
    expect(store.getSampleSet(analytic.id)).toBeUndefined();

    const base = {
      model: {},
      sampler: 'euler',
      steps: 10,
      seed: 1,
      n: 1,
      path: '/s',
    };
    expect(() => store.createSampleSet({ ...base, n: 0 })).toThrow('sample count must be an integer >= 1, got 0');
    expect(() => store.createSampleSet({ ...base, seed: 1.5 })).toThrow(/seed must be an integer/);
    expect(() => store.createSampleSet({ ...base, runId: 'ghost' })).toThrow(
      /run ghost or checkpoint undefined does not exist/,
    );
  });
});

describe('comparisons', () => {
  it('create, update, list and delete', () => {
    const spec = {
      samplers: ['euler', 'heun', 'dpm++2m'],
      steps: [5, 10, 20],
      seed: 1,
    };
    const a = store.createComparison({ name: 'samplers', spec });
    expect(a).toMatchObject({
      name: 'samplers',
      spec,
      status: 'created',
      result: null,
    });
    const b = store.createComparison({ name: 'second', spec: {} });
    expect(store.listComparisons().map((c) => c.id)).toEqual([b.id, a.id]);

    const running = store.updateComparison(a.id, { status: 'running' });
    expect(running).toMatchObject({
      status: 'running',
      name: 'samplers',
      result: null,
    });
    const done = store.updateComparison(a.id, {
      status: 'completed',
      result: { fid: [[1, 2, 3]], ok: true },
    });
    expect(done.result).toEqual({ fid: [[1, 2, 3]], ok: true });
    expect(done.updatedAt).toBeGreaterThan(a.updatedAt);
    expect(store.updateComparison(a.id, { name: 'renamed' })).toMatchObject({
      name: 'renamed',
      status: 'completed',
      result: { fid: [[1, 2, 3]], ok: true },
    });
    expect(store.updateComparison(a.id, { result: null }).result).toBeNull();
    expect(() => store.updateComparison('ghost', { status: 'failed' })).toThrow('No comparison ghost');
    expect(() => store.updateComparison(a.id, { status: 'weird' as never })).toThrow(
      /comparison status must be one of/,
    );
    expect(store.deleteComparison(b.id)).toBe(true);
    expect(store.deleteComparison(b.id)).toBe(false);
  });
});

describe('JSON columns', () => {
  it('reject values JSON cannot represent faithfully, naming the field', () => {
    const bad = (config: unknown) => () => trainRun({ config: config as never });
    expect(bad({ lr: NaN })).toThrow('run config.lr is NaN, which JSON cannot represent');
    expect(bad({ opt: { betas: [0.9, Infinity] } })).toThrow('run config.opt.betas[1] is Infinity');
    expect(bad({ when: new Date(0) })).toThrow('run config.when is a Date object, not a plain JSON object');
    expect(bad({ f: undefined })).toThrow('run config.f is a undefined, which is not JSON');
    expect(bad({ n: 10n })).toThrow('run config.n is a bigint');
    const cyclic: Record<string, unknown> = {};
    cyclic.self = cyclic;
    expect(bad(cyclic)).toThrow('run config.self is a circular reference');
    expect(bad([1, 2])).toThrow('run config must be a JSON object, got an array');
    expect(bad(null)).toThrow('run config must be a JSON object, got null');
    const shared = { a: 1 };
    expect(trainRun({ config: { x: shared, y: shared } }).config).toEqual({
      x: { a: 1 },
      y: { a: 1 },
    });
    const c = store.createComparison({ name: 'c', spec: {} });
    expect(() => store.updateComparison(c.id, { result: { v: NaN } })).toThrow('comparison result.v is NaN');
  });

  it('the schema itself refuses invalid JSON and bad enum values', () => {
    const dir = mkdtempSync(join(tmpdir(), 'ds-store-json-'));
    try {
      const file = join(dir, 'studio.db');
      const fileStore = openStore(file);
      const run = fileStore.createRun({ name: 'r', kind: 'train', config: {} });
      const db = new Database(file);
      expect(() => db.prepare(`UPDATE runs SET config_json = '{broken' WHERE id = ?`).run(run.id)).toThrow(
        /CHECK constraint failed/,
      );
      expect(() => db.prepare(`UPDATE runs SET config_json = '[1]' WHERE id = ?`).run(run.id)).toThrow(/CHECK/);
      expect(() => db.prepare(`UPDATE runs SET status = 'exploded' WHERE id = ?`).run(run.id)).toThrow(/CHECK/);
      expect(() => db.prepare(`UPDATE runs SET last_step = 'ten' WHERE id = ?`).run(run.id)).toThrow(
        /STRICT|cannot store/,
      );
      // Bypassing the checks (a damaged file), reads fail with a message naming the row.
      db.pragma('ignore_check_constraints = ON');
      db.prepare(`UPDATE runs SET config_json = '{broken' WHERE id = ?`).run(run.id);
      db.close();
      expect(() => fileStore.getRun(run.id)).toThrow(new RegExp(`runs.config_json of run ${run.id} is not valid JSON`));
      fileStore.close();
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});

describe('transactions', () => {
  it('roll back everything when fn throws, and nest', () => {
    const kept = trainRun({ name: 'kept' });
    expect(() =>
      store.transaction(() => {
        trainRun({ name: 'lost' });
        store.renameRun(kept.id, 'renamed');
        throw new Error('boom');
      }),
    ).toThrow('boom');
    expect(store.listRuns().map((r) => r.name)).toEqual(['kept']);

    const result = store.transaction(() => {
      const a = trainRun({ name: 'outer' });
      try {
        store.transaction(() => {
          trainRun({ name: 'inner' });
          throw new Error('inner fails');
        });
      } catch {
        // only the inner savepoint rolls back
      }
      return a.id;
    });
    expect(store.getRun(result)!.name).toBe('outer');
    expect(
      store
        .listRuns()
        .map((r) => r.name)
        .sort(),
    ).toEqual(['kept', 'outer']);
  });
});

describe('file stores', () => {
  let dir: string;
  beforeEach(() => {
    dir = mkdtempSync(join(tmpdir(), 'ds-store-file-'));
  });
  afterEach(() => rmSync(dir, { recursive: true, force: true }));

  it('persist across reopen, and read-only stores cannot write', () => {
    const file = join(dir, 'studio.db');
    const writer = openStore(file);
    const run = writer.createRun({
      name: 'persisted',
      kind: 'import',
      config: { source: 'pytorch' },
    });
    writer.close();
    writer.close(); // idempotent

    const reader = openStore(file, { readonly: true });
    expect(reader.readonly).toBe(true);
    expect(reader.getRun(run.id)!.config).toEqual({ source: 'pytorch' });
    expect(() => reader.renameRun(run.id, 'x')).toThrow(/readonly database/);
    reader.close();
  });

  it('can be read from a worker thread while the writer stays open', async () => {
    const file = join(dir, 'studio.db');
    const writer = openStore(file);
    try {
      const run = writer.createRun({
        name: 'shared',
        kind: 'train',
        config: { lr: 1e-3 },
      });
      writer.appendMetrics(
        Array.from({ length: 100 }, (_, step) => ({
          runId: run.id,
          step,
          name: 'loss',
          value: 1,
        })),
      );
      const worker = new Worker(new URL('./fixtures/store-reader.worker.mjs', import.meta.url), {
        workerData: {
          file,
          runId: run.id,
          openModule: fileURLToPath(new URL('../../src/store/open.ts', import.meta.url)),
        },
      });
      const reply = await new Promise<Record<string, unknown>>((resolve, reject) => {
        worker.once('message', resolve);
        worker.once('error', reject);
        worker.once('exit', (code) => reject(new Error(`worker exited with ${code} before replying`)));
      });
      await worker.terminate();
      expect(reply.threadId).toBeGreaterThan(0);
      expect(reply.readonly).toBe(true);
      expect(reply.run).toMatchObject({
        id: run.id,
        name: 'shared',
        config: { lr: 1e-3 },
      });
      expect(reply.lossPoints).toBe(100);
      expect(reply.writeError).toMatch(/readonly database/);
      // The writer was never blocked and its data is intact.
      expect(writer.renameRun(run.id, 'still writable').name).toBe('still writable');
    } finally {
      writer.close();
    }
  });
});

describe('run engine and config updates', () => {
  it('records the engine that ran and a replaced config', () => {
    const store = openMemoryStore();
    const run = store.createRun({ name: 'e', kind: 'train', config: { steps: 10 } });
    expect(store.setRunEngine(run.id, 'tfjs-wasm').engine).toBe('tfjs-wasm');
    expect(store.updateRunConfig(run.id, { steps: 20 }).config).toEqual({ steps: 20 });
    expect(() => store.updateRunConfig('missing', { steps: 1 })).toThrow();
    store.close();
  });
});
