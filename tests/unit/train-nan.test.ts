/**
 * A NaN loss stops the run with a clear error, marks it failed and keeps the last good checkpoint resumable, on both
 * engines: tfjs (its loss poisoned) and onnx (a NaN in the 6th batch's noise, through the real compiled graph).
 */
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it, vi } from 'vitest';
import { CheckpointManager } from '../../src/checkpoint/manager.ts';
import { openStore } from '../../src/store/open.ts';
import { resolveTrainConfig } from '../../src/train/config.ts';
import { trainRun } from '../../src/train/trainer.ts';
import { OnnxTrainStep } from '../../src/engines/onnx/train-step.ts';
import type * as Objectives from '../../src/train/objectives.ts';

// Fault injection: the 6th loss evaluation turns NaN (as a diverging run's would); everything else is real.
const calls = vi.hoisted(() => ({ n: 0, poisonAt: 6 }));
vi.mock('../../src/train/objectives.ts', async (importOriginal) => {
  const real = await importOriginal<typeof Objectives>();
  return {
    ...real,
    diffusionLoss: (...args: Parameters<typeof real.diffusionLoss>) => {
      const r = real.diffusionLoss(...args);
      calls.n += 1;
      return calls.n === calls.poisonAt ? { ...r, loss: r.loss.mul(NaN) } : r;
    },
  };
});

const realUpdate = OnnxTrainStep.prototype.update;
const onnxCalls = { n: 0 };
vi.spyOn(OnnxTrainStep.prototype, 'update').mockImplementation(function (this: OnnxTrainStep, batch, lr, seed) {
  onnxCalls.n += 1;
  const poisoned = onnxCalls.n === 6 ? { ...batch, eps: batch.eps.map((v, i) => (i === 0 ? NaN : v)) } : batch;
  return realUpdate.call(this, poisoned, lr, seed);
});

describe.each(['tfjs', 'onnx'] as const)('non-finite loss, %s engine', (engine) => {
  it('stops with a clear error and keeps the last good checkpoint', async () => {
    const home = mkdtempSync(join(tmpdir(), 'ds-nan-'));
    const store = openStore(join(home, 'studio.db'));
    const checkpoints = new CheckpointManager(store, join(home, 'runs'));
    const config = resolveTrainConfig({
      data: { kind: 'toy', toySize: 128 },
      batchSize: 8,
      steps: 10,
      checkpointEvery: 4,
      backend: 'cpu',
      engine,
    });
    const run = store.createRun({ name: 'nan', kind: 'train', config: config as never });
    await expect(trainRun({ store, checkpoints, runId: run.id, config, resume: false })).rejects.toThrow(
      /loss became NaN at step 6; training stopped and the last good checkpoint \(step 4\) is kept/,
    );
    const row = store.getRun(run.id)!;
    expect(row.status).toBe('failed');
    expect(row.error).toMatch(/loss became NaN at step 6/);
    expect(store.listCheckpoints(run.id).map((c) => c.step)).toEqual([0, 4]);
    expect(store.metrics(run.id, 'loss').map((p) => p.step)).toEqual([1, 2, 3, 4, 5]);
    // The kept checkpoint is good: resuming (past the fault) completes the run.
    const outcome = await trainRun({ store, checkpoints, runId: run.id, config, resume: true });
    expect(outcome).toMatchObject({ status: 'completed', step: 10 });
    store.close();
  });
});
