/**
 * The ONNX engine optimizes the same function as the tfjs engine: 50 steps of the tiny U-Net from the same weights,
 * batches and noise give the same loss curve within float32 noise (the two engines round differently, so the
 * trajectories drift apart slowly; a wrong gradient, loss term or optimizer detail departs within a few steps).
 */
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { CheckpointManager } from '../../src/checkpoint/manager.ts';
import { openStore } from '../../src/store/open.ts';
import { resolveTrainConfig } from '../../src/train/config.ts';
import { trainRun } from '../../src/train/trainer.ts';
import { writeTinyIdx } from './helpers/tiny-idx.ts';

const home = mkdtempSync(join(tmpdir(), 'ds-curve-'));
const store = openStore(join(home, 'studio.db'));
const checkpoints = new CheckpointManager(store, join(home, 'runs'));
afterAll(() => store.close());

const dataDir = mkdtempSync(join(tmpdir(), 'ds-curve-idx-'));
writeTinyIdx(dataDir, 32, 12);

async function curve(engine: 'tfjs' | 'onnx', extra: object): Promise<number[]> {
  const config = resolveTrainConfig({
    data: { kind: 'mnist', dir: dataDir },
    batchSize: 8,
    steps: 50,
    checkpointEvery: 1000,
    lr: 1e-3,
    seed: 3,
    backend: 'wasm',
    engine,
    ...extra,
  });
  const run = store.createRun({ name: `curve-${engine}`, kind: 'train', config: config as never });
  await trainRun({ store, checkpoints, runId: run.id, config, resume: false });
  return store.metrics(run.id, 'loss').map((p) => p.value);
}

describe('ONNX engine vs tfjs engine: 50-step loss curves', () => {
  for (const [label, extra] of [
    ['tiny U-Net, eps, AdamW, clipping', { gradClip: 1 }],
    [
      'tiny U-Net, conditional, learned variance, cosine schedule',
      { conditional: true, learnedVariance: true, schedule: 'cosine' },
    ],
  ] as const) {
    it(
      label,
      async () => {
        const a = await curve('tfjs', extra);
        const b = await curve('onnx', extra);
        expect(a).toHaveLength(50);
        expect(b).toHaveLength(50);
        const rel = a.map((v, i) => Math.abs(v - b[i]) / Math.abs(v));
        // Identical at the start (same weights, same batch): float32 rounding only.
        expect(Math.max(...rel.slice(0, 5))).toBeLessThan(1e-6);
        // Observed: at most 1.3e-5 over 50 steps.
        expect(Math.max(...rel)).toBeLessThan(2e-4);
        // And it trains: the loss of the last 10 steps is below that of the first 10.
        const mean = (xs: number[]) => xs.reduce((s, x) => s + x, 0) / xs.length;
        expect(mean(b.slice(-10))).toBeLessThan(mean(b.slice(0, 10)));
      },
      180_000,
    );
  }
});
