/**
 * model-sample.worker.ts driven directly: an imported ONNX model sampled in a worker thread in chunks of 3 gives
 * exactly the samples of `sample --run` (one chunk), streams bounded step previews, and honours cancel.
 */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Writable } from 'node:stream';
import type { Worker } from 'node:worker_threads';
import { afterAll, describe, expect, it } from 'vitest';
import { runCli } from '../../src/cli/main.ts';
import { DataType, encodeModel } from '../../src/engines/onnx/onnx-proto.ts';
import { readNpy } from '../../src/io/npy-file.ts';
import { spawnWorker, tsxWorkerEntry } from '../../src/service/worker-entry.ts';
import type {
  FromModelSampleWorker,
  ModelSampleStart,
  ToModelSampleWorker,
} from '../../src/worker/model-sample-messages.ts';

const root = mkdtempSync(join(tmpdir(), 'ds-model-worker-'));
const db = join(root, 'studio.db');
const runs = join(root, 'runs');
const entry = tsxWorkerEntry(new URL('../../src/worker/model-sample.worker.ts', import.meta.url));

afterAll(() => rmSync(root, { recursive: true, force: true }));

const quiet = () => new Writable({ write: (_c, _e, cb) => cb() });

/** out = tanh(0.8 * input) as an eps predictor over 4-vectors; int64 timesteps, dynamic batch. */
function foreignVectorModel(): Uint8Array {
  const vi = (name: string, elemType: number, dims: (number | string)[]) => ({
    name,
    type: {
      tensorType: {
        elemType,
        shape: { dim: dims.map((d) => (typeof d === 'number' ? { dimValue: d } : { dimParam: d })) },
      },
    },
  });
  return encodeModel({
    irVersion: 8,
    producerName: 'test',
    producerVersion: '0',
    graph: {
      name: 'g',
      node: [
        { input: ['input', 'k'], output: ['s'], name: 'mul', opType: 'Mul', attribute: [] },
        { input: ['s'], output: ['eps'], name: 'tanh', opType: 'Tanh', attribute: [] },
      ],
      initializer: [
        { name: 'k', dims: [], dataType: DataType.FLOAT, rawData: new Uint8Array(Float32Array.of(0.8).buffer) },
      ],
      input: [vi('input', DataType.FLOAT, ['B', 4]), vi('timesteps', DataType.INT64, ['B'])],
      output: [vi('eps', DataType.FLOAT, ['B', 4])],
    },
    opsetImport: [{ domain: '', version: 17 }],
    metadataProps: [],
  });
}

async function importRun(): Promise<string> {
  const file = join(root, 'vec.onnx');
  writeFileSync(file, foreignVectorModel());
  let out = '';
  const sink = new Writable({
    write(c, _e, cb) {
      out += String(c);
      cb();
    },
  });
  const code = await runCli(
    ['import-onnx', '--file', file, '--prediction', 'eps', '--schedule', 'linear', '--db', db, '--out', runs],
    sink,
    quiet(),
  );
  expect(code).toBe(0);
  return /^run (r_\w+) /m.exec(out)![1];
}

function startJob(start: ModelSampleStart, onMessage?: (m: FromModelSampleWorker, w: Worker) => void) {
  const worker = spawnWorker(entry, { name: 'model-sample-test' });
  const messages: FromModelSampleWorker[] = [];
  const final = new Promise<FromModelSampleWorker>((resolve, reject) => {
    worker.on('message', (m: FromModelSampleWorker) => {
      messages.push(m);
      onMessage?.(m, worker);
      if (m.type === 'done' || m.type === 'cancelled' || m.type === 'error') resolve(m);
    });
    worker.on('error', reject);
  });
  worker.postMessage(start satisfies ToModelSampleWorker);
  return { messages, final, worker };
}

describe('model-sample.worker', () => {
  let run = '';

  it('samples an imported run in chunks, like the CLI, with bounded step previews', async () => {
    run = await importRun();
    const cliOut = join(root, 'cli.npy');
    const flags = ['--sampler', 'euler-ancestral', '--steps', '5', '--n', '7', '--seed', '9'];
    const code = await runCli(['sample', '--run', run, ...flags, '--out', cliOut, '--db', db], quiet(), quiet());
    expect(code).toBe(0);

    const outPath = join(root, 'worker.npy');
    const job = startJob({
      type: 'start',
      jobId: 'j1',
      dbPath: db,
      runsDir: runs,
      request: { run, sampler: 'euler-ancestral', steps: 5, n: 7, seed: 9 },
      outPath,
      maxModelBatch: 3,
      previewSamples: 2,
    });
    const final = await job.final;
    expect(final).toMatchObject({ type: 'done', path: outPath, checkpointId: null, nfe: 5 });
    const started = job.messages[0];
    expect(started).toMatchObject({
      type: 'started',
      engine: 'onnxruntime-cpu',
      steps: 5,
      n: 7,
      shape: [4],
      chunks: 3,
    });
    const steps = job.messages.filter((m) => m.type === 'step');
    expect(steps).toHaveLength(15);
    expect(steps.map((s) => s.i)).toEqual(Array.from({ length: 15 }, (_, i) => i));
    expect(steps.filter((s) => s.x).map((s) => s.x!.length)).toEqual([8, 8, 8, 8, 8]); // 2 samples, chunk 0 only
    const [a, b] = await Promise.all([readNpy(cliOut), readNpy(outPath)]);
    expect(b.shape).toEqual([7, 4]);
    expect(Array.from(b.data as Float32Array)).toEqual(Array.from(a.data as Float32Array));
  });

  it('stops on cancel and reports the steps done', async () => {
    const job = startJob(
      {
        type: 'start',
        jobId: 'j2',
        dbPath: db,
        runsDir: runs,
        request: { run, sampler: 'euler', steps: 500, n: 4, seed: 1 },
        outPath: join(root, 'cancelled.npy'),
        maxModelBatch: 4,
        previewSamples: 1,
      },
      (m, w) => {
        if (m.type === 'step' && m.i === 3) w.postMessage({ type: 'cancel' } satisfies ToModelSampleWorker);
      },
    );
    const final = await job.final;
    expect(final.type).toBe('cancelled');
    expect((final as { completedSteps: number }).completedSteps).toBeLessThan(500);
  });

  it('reports an unknown run as an error message', async () => {
    const job = startJob({
      type: 'start',
      jobId: 'j3',
      dbPath: db,
      runsDir: runs,
      request: { run: 'r_nope', sampler: 'euler', steps: 5, n: 1, seed: 0 },
      outPath: join(root, 'x.npy'),
      maxModelBatch: 4,
      previewSamples: 1,
    });
    const final = await job.final;
    expect(final).toMatchObject({ type: 'error', error: { name: 'UsageError' } });
    expect((final as { error: { message: string } }).error.message).toMatch(/no run r_nope/);
  });
});
