/**
 * Exact resume: N steps straight, and N/2 steps + stop + resume + N/2 steps, give the same losses and bit-identical
 * weights, EMA weights and optimizer moments, on the deterministic backends (cpu, wasm), for vector data (MLP) and
 * images (tiny U-Net with class labels, learned variance and dropout-free training), and on the ONNX engine (the
 * compiled step on onnxruntime's cpu provider, dropout masks included).
 */
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { CheckpointManager } from '../../src/checkpoint/manager.ts';
import { NormalStream } from '../../src/core/rng.ts';
import { openStore } from '../../src/store/open.ts';
import type { Store } from '../../src/store/store.ts';
import { resolveTrainConfig, type TrainConfig } from '../../src/train/config.ts';
import { trainRun } from '../../src/train/trainer.ts';

const home = mkdtempSync(join(tmpdir(), 'ds-resume-'));
const store: Store = openStore(join(home, 'studio.db'));
const checkpoints = new CheckpointManager(store, join(home, 'runs'));
afterAll(() => store.close());

/** A tiny MNIST-format dataset: 12x12 greyscale blobs in 3 classes. */
function writeTinyIdx(dir: string, n = 24, size = 12): void {
  const c = size / 2;
  const header = (magic: number, dims: number[]) => {
    const b = Buffer.alloc(4 + 4 * dims.length);
    b.writeUInt32BE(magic, 0);
    dims.forEach((d, i) => b.writeUInt32BE(d, 4 + 4 * i));
    return b;
  };
  const images = Buffer.alloc(n * size * size);
  const labels = Buffer.alloc(n);
  const noise = new Float64Array(n * size * size);
  new NormalStream(3, 0, 9).fill(noise);
  for (let j = 0; j < n; j++) {
    labels[j] = j % 3;
    const cx = c - 3 + 3 * (j % 3);
    for (let y = 0; y < size; y++)
      for (let x = 0; x < size; x++) {
        const v = 255 * Math.exp(-((x - cx) ** 2 + (y - c) ** 2) / 6) + 20 * noise[(j * size + y) * size + x];
        images[(j * size + y) * size + x] = Math.max(0, Math.min(255, Math.round(v)));
      }
  }
  writeFileSync(join(dir, 'train-images-idx3-ubyte'), Buffer.concat([header(0x803, [n, size, size]), images]));
  writeFileSync(join(dir, 'train-labels-idx1-ubyte'), Buffer.concat([header(0x801, [n]), labels]));
}

async function train(config: TrainConfig, stopAfter?: number, runId?: string) {
  const id = runId ?? store.createRun({ name: 'resume-test', kind: 'train', config: config as never }).id;
  let calls = 0;
  const outcome = await trainRun({
    store,
    checkpoints,
    runId: id,
    config,
    resume: runId !== undefined,
    hooks: { control: () => (stopAfter !== undefined && calls++ >= stopAfter ? 'stop' : 'run') },
  });
  return { id, outcome };
}

async function finalState(runId: string) {
  return (await checkpoints.loadLatestGood(runId)).state;
}

const losses = (runId: string) => store.metrics(runId, 'loss').map((p) => [p.step, p.value]);

function expectSameMaps(a: Map<string, Float32Array>, b: Map<string, Float32Array>) {
  expect([...a.keys()]).toEqual([...b.keys()]);
  for (const [k, v] of a) expect(Buffer.from(b.get(k)!.buffer).equals(Buffer.from(v.buffer)), k).toBe(true);
}

const imageDir = mkdtempSync(join(tmpdir(), 'ds-idx-'));
writeTinyIdx(imageDir);
// tfjs's pure-JS cpu backend is ~300x slower than PyTorch (DESIGN.md): its U-Net case runs on 8x8 images, 4 steps.
const smallImageDir = mkdtempSync(join(tmpdir(), 'ds-idx8-'));
writeTinyIdx(smallImageDir, 8, 8);

const cases: { label: string; backend: 'cpu' | 'wasm'; raw: object; steps?: number }[] = [
  {
    label: 'MLP on a toy set, onnx engine',
    backend: 'cpu',
    raw: {
      data: { kind: 'toy', toy: 'ring', toySize: 256 },
      batchSize: 16,
      engine: 'onnx',
      optimizer: 'adam',
      weightDecay: 0.01,
    },
  },
  {
    label: 'tiny U-Net, conditional + learned variance, onnx engine',
    backend: 'cpu',
    raw: {
      data: { kind: 'mnist', dir: imageDir },
      batchSize: 4,
      conditional: true,
      learnedVariance: true,
      hflip: true,
      engine: 'onnx',
      weightDecay: 0.01,
    },
  },
  {
    label: 'small U-Net with dropout, v objective, onnx engine',
    backend: 'cpu',
    raw: { data: { kind: 'mnist', dir: smallImageDir }, preset: 'small', batchSize: 2, objective: 'v', engine: 'onnx' },
    steps: 4,
  },
  {
    label: 'MLP on a toy set, cpu',
    backend: 'cpu',
    raw: { data: { kind: 'toy', toy: 'ring', toySize: 256 }, batchSize: 16, engine: 'tfjs' },
  },
  {
    label: 'MLP on a toy set, wasm',
    backend: 'wasm',
    raw: {
      data: { kind: 'toy', toy: 'moons', toySize: 256 },
      batchSize: 16,
      objective: 'v',
      warmupSteps: 3,
      engine: 'tfjs',
    },
  },
  {
    label: 'tiny U-Net, conditional + learned variance, cpu',
    backend: 'cpu',
    raw: {
      data: { kind: 'mnist', dir: smallImageDir },
      batchSize: 2,
      conditional: true,
      learnedVariance: true,
      hflip: true,
      engine: 'tfjs',
    },
    steps: 4,
  },
  {
    label: 'tiny U-Net, x0 objective, wasm',
    backend: 'wasm',
    raw: { data: { kind: 'mnist', dir: imageDir }, batchSize: 4, objective: 'x0', conditional: true, engine: 'tfjs' },
  },
];

describe('exact resume', () => {
  for (const c of cases) {
    it(
      c.label,
      async () => {
        const steps = c.steps ?? 8;
        const config = resolveTrainConfig({
          ...c.raw,
          steps,
          checkpointEvery: 100,
          keepLast: 5,
          backend: c.backend,
          seed: 5,
          lr: 1e-3,
        });
        const straight = await train(config);
        expect(straight.outcome.status).toBe('completed');

        const first = await train(config, steps / 2);
        expect(first.outcome).toMatchObject({ status: 'stopped', step: steps / 2 });
        expect(store.getRun(first.id)!.status).toBe('cancelled');
        const resumed = await train(config, undefined, first.id);
        expect(resumed.outcome).toMatchObject({ status: 'completed', step: steps });

        expect(losses(first.id)).toEqual(losses(straight.id));
        expect(losses(first.id)).toHaveLength(steps);
        const a = await finalState(straight.id);
        const b = await finalState(first.id);
        expect(b.step).toBe(steps);
        expectSameMaps(a.weights, b.weights);
        expectSameMaps(a.ema!, b.ema!);
        expectSameMaps(a.optimizer.m, b.optimizer.m);
        expectSameMaps(a.optimizer.v, b.optimizer.v);
        expect(b.rng).toEqual(a.rng);
        const engine = (c.raw as { engine: string }).engine;
        expect(store.getRun(first.id)!.engine).toBe(engine === 'onnx' ? 'onnx-cpu' : `tfjs-${c.backend}`);
        expect(b.backend).toBe(engine === 'onnx' ? 'onnx-cpu' : c.backend);
        expect(b.data).toEqual(a.data);
      },
      120_000,
    );
  }
});
