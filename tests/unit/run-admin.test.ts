/**
 * Run management through the studio service, against real training runs in real workers: previews kept per
 * checkpoint, rename, pins, checkpoint deletion rules, forks with overrides (trained on from the copy), deletion of
 * a run with all its files and nothing else.
 */
import { existsSync, mkdtempSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { afterEach, describe, expect, it } from 'vitest';
import type { StudioEvent } from '../../src/api/contract.ts';
import { spreadEvenly } from '../../src/service/run-admin.ts';
import { StudioService } from '../../src/service/studio-service.ts';
import { tsxWorkerEntry } from '../../src/service/worker-entry.ts';

const worker = (name: string) =>
  tsxWorkerEntry(pathToFileURL(join(import.meta.dirname, `../../src/worker/${name}.worker.ts`)));

const dirs: string[] = [];
const services: StudioService[] = [];

function open() {
  const dataDir = mkdtempSync(join(tmpdir(), 'ds-admin-'));
  dirs.push(dataDir);
  const service = new StudioService({
    host: 'server',
    version: '0.0.0-test',
    dataDir,
    workers: { sample: worker('sample'), train: worker('train') },
  });
  services.push(service);
  return service;
}

afterEach(async () => {
  await Promise.all(services.splice(0).map((s) => s.close()));
  for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
});

function finished(service: StudioService, runId: string) {
  return new Promise<Extract<StudioEvent, { type: 'train-state' }>>((resolve) => {
    const off = service.onEvent((e) => {
      if (e.type === 'train-state' && e.runId === runId && ['completed', 'failed', 'stopped'].includes(e.state)) {
        off();
        resolve(e);
      }
    });
  });
}

async function train(service: StudioService, runId: string) {
  const done = finished(service, runId);
  await service.startTraining(runId);
  return done;
}

const toyRun = {
  data: { kind: 'toy' as const, toy: 'ring' as const, toySize: 256 },
  steps: 30,
  batchSize: 16,
  checkpointEvery: 10,
  keepLast: 2,
  previewCount: 8,
  previewSteps: 3,
  backend: 'cpu' as const,
};

const decode = (base64: string) => {
  const bytes = Buffer.from(base64, 'base64');
  return new Float32Array(bytes.buffer, bytes.byteOffset, bytes.byteLength / 4);
};

describe('run management', () => {
  it('keeps a preview per checkpoint, pins, forks with overrides, deletes checkpoints and runs', async () => {
    const service = open();
    const run = await service.createTrainingRun(toyRun);
    const other = await service.createTrainingRun({ ...toyRun, steps: 10 });
    expect(await train(service, run.id)).toMatchObject({ state: 'completed', step: 30 });

    // Previews at every checkpoint after step 0 are on disk, also of the pruned one (keepLast 2).
    const detail = await service.getRun(run.id);
    expect(detail.checkpoints.map((c) => c.step)).toEqual([20, 30]);
    const previews = await service.listPreviews({ runId: run.id });
    expect(previews.map((p) => p.step)).toEqual([10, 20, 30]);
    for (const p of previews) {
      expect(p).toMatchObject({ count: 8, shape: [2] });
      const xs = decode(p.samplesBase64);
      expect(xs.length).toBe(16);
      expect(xs.every(Number.isFinite)).toBe(true);
    }
    expect(decode(previews[0].samplesBase64)).not.toEqual(decode(previews[2].samplesBase64));
    expect((await service.listPreviews({ runId: run.id, max: 2 })).map((p) => p.step)).toEqual([10, 30]);
    await expect(service.listPreviews({ runId: run.id, max: 0 })).rejects.toMatchObject({
      name: 'ValidationError',
      message: expect.stringContaining('max must be an integer'),
    });

    // Rename.
    expect((await service.renameRun({ runId: run.id, name: '  ring baseline ' })).name).toBe('ring baseline');
    await expect(service.renameRun({ runId: run.id, name: '  ' })).rejects.toMatchObject({
      name: 'ValidationError',
      message: 'name must not be empty',
    });
    await expect(service.renameRun({ runId: 'r_nope', name: 'x' })).rejects.toMatchObject({ name: 'NotFoundError' });

    // Pins: a pinned checkpoint is refused for deletion until unpinned.
    const [c20, c30] = detail.checkpoints;
    expect((await service.pinCheckpoint(c20.id)).pinned).toBe(true);
    await expect(service.deleteCheckpoint(c20.id)).rejects.toMatchObject({
      name: 'ValidationError',
      message: expect.stringContaining('pinned; unpin it first'),
    });
    expect((await service.unpinCheckpoint(c20.id)).pinned).toBe(false);
    await expect(service.pinCheckpoint('c_nope')).rejects.toMatchObject({ name: 'NotFoundError' });

    // Fork from step 20 with a lower learning rate and more steps; bad overrides name their field.
    await expect(
      service.forkRun({ runId: run.id, checkpointId: c20.id, overrides: { steps: 5 } }),
    ).rejects.toMatchObject({ name: 'ValidationError', message: "steps 5 is below the checkpoint's step 20" });
    await expect(service.forkRun({ runId: run.id, overrides: { batchSize: 8 } as never })).rejects.toMatchObject({
      name: 'ValidationError',
      message: expect.stringMatching(/^batchSize cannot change/),
    });
    await expect(service.forkRun({ runId: run.id, overrides: { lr: -1 } })).rejects.toMatchObject({
      name: 'ValidationError',
      message: expect.stringMatching(/^lr must be a number/),
    });
    const fork = await service.forkRun({ runId: run.id, checkpointId: c20.id, overrides: { lr: 1e-4, steps: 40 } });
    expect(fork).toMatchObject({
      name: 'ring baseline (fork @ 20)',
      status: 'created',
      lastStep: 20,
      parentRunId: run.id,
      parentCheckpointId: c20.id,
    });
    expect(fork.config).toMatchObject({ lr: 1e-4, steps: 40, batchSize: 16 });
    expect((await service.listPreviews({ runId: fork.id })).map((p) => p.step)).toEqual([20]);
    expect(await train(service, fork.id)).toMatchObject({ state: 'completed', step: 40 });
    expect((await service.listPreviews({ runId: fork.id })).map((p) => p.step)).toEqual([20, 30, 40]);

    // The fork origin is kept; the newest checkpoint goes and the run rolls back, reopened for training.
    await expect(service.deleteCheckpoint(c20.id)).rejects.toMatchObject({
      name: 'ValidationError',
      message: expect.stringContaining('were forked from the checkpoint at step 20'),
    });
    const gone = await service.deleteCheckpoint(c30.id);
    expect(gone.note).toContain('now ends at its checkpoint at step 20 and is no longer completed');
    expect(gone.run).toMatchObject({ status: 'cancelled', lastStep: 20 });
    expect(existsSync(c30.path)).toBe(false);
    await expect(service.deleteCheckpoint(c20.id)).rejects.toMatchObject({ name: 'ValidationError' });

    // The only checkpoint of a run is refused.
    expect(await train(service, other.id)).toMatchObject({ state: 'completed' });
    const otherCkpts = (await service.getRun(other.id)).checkpoints;
    await service.deleteCheckpoint(otherCkpts[0].id); // step 0 of two
    await expect(service.deleteCheckpoint(otherCkpts[1].id)).rejects.toMatchObject({
      name: 'ValidationError',
      message: expect.stringContaining('only checkpoint'),
    });

    // A training run cannot be deleted; a stopped one goes with every file; the others are untouched.
    const runDir = join(service.dataDir, 'runs', run.id);
    expect(existsSync(join(runDir, 'previews'))).toBe(true);
    const stopped = finished(service, run.id);
    await service.startTraining(run.id);
    await expect(service.deleteRun(run.id)).rejects.toMatchObject({
      name: 'ValidationError',
      message: expect.stringContaining('is training; stop it before you delete it'),
    });
    await service.stopTraining(run.id);
    await stopped;
    const removed = await service.deleteRun(run.id);
    expect(removed.filesRemoved).toBeGreaterThanOrEqual(3);
    expect(existsSync(runDir)).toBe(false);
    await expect(service.getRun(run.id)).rejects.toMatchObject({ name: 'NotFoundError' });
    const left = await service.listRuns();
    expect(left.map((r) => r.id).sort()).toEqual([fork.id, other.id].sort());
    expect(left.find((r) => r.id === fork.id)).toMatchObject({ parentRunId: null, parentCheckpointId: null });
    expect(readdirSync(join(service.dataDir, 'runs')).sort()).toEqual([fork.id, other.id].sort());
    await expect(service.deleteRun(run.id)).rejects.toMatchObject({ name: 'NotFoundError' });
  }, 120_000);

  it('spreads a long strip evenly, keeping the first and last', () => {
    expect(spreadEvenly([1, 2, 3], 5)).toEqual([1, 2, 3]);
    expect(spreadEvenly([0, 1, 2, 3, 4, 5, 6, 7, 8, 9], 4)).toEqual([0, 3, 6, 9]);
    expect(spreadEvenly([0, 1, 2], 1)).toEqual([2]);
  });
});
