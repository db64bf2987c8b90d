/**
 * Worker thread that runs one comparison (src/compare/comparison.ts): every cell from the same initial noise, one
 * after another, over an analytic mixture or a run's network (opened read-only; the service stays the one database
 * writer). For each cell it stores the samples and a trajectory of the first few samples (x and predicted x0 at each
 * noise level, with the sigmas), so the studio opens a cell's trajectory without recomputing it, and reports the cell
 * with its first `shown` samples. Cancel is checked at every step.
 */
import { join } from 'node:path';
import { threadId } from 'node:worker_threads';
import { openRunEngine, type RunEngine } from '../cli/run-engine.ts';
import { analyticSource } from '../compare/analytic-source.ts';
import { comparisonCells, resultJson, runComparison, type CellSource } from '../compare/comparison.ts';
import type { RunProvenance } from '../compare/provenance.ts';
import { runSource } from '../compare/run-source.ts';
import type { StepInfo } from '../core/types.ts';
import { writeNpy } from '../io/npy-file.ts';
import { openStore } from '../store/open.ts';
import type { Store } from '../store/store.ts';
import type { CompareStart, FromCompareWorker, TrajectoryFiles } from './compare-messages.ts';
import { serveJob, yieldToEventLoop, type JobContext } from './job-worker.ts';

/** Progress messages at most this often (cells of a 2-D mixture take microseconds per step). */
const PROGRESS_MS = 50;

/** The first `count` samples at every step of one cell. */
class TrajectoryRecorder {
  readonly sigmas: number[] = [];
  readonly xs: Float32Array[] = [];
  readonly x0s: Float32Array[] = [];
  constructor(
    readonly dim: number,
    readonly maxCount: number,
  ) {}
  count = 0;

  step(info: StepInfo): void {
    if (this.xs.length === 0) this.count = Math.max(1, Math.min(this.maxCount, info.x.length / this.dim));
    const k = this.count * this.dim;
    this.sigmas.push(info.sigma);
    this.xs.push(Float32Array.from(info.x.subarray(0, k)));
    this.x0s.push(Float32Array.from(info.x0Pred.subarray(0, k)));
  }

  async write(dir: string, base: string, final: ArrayLike<number>, shape: number[]): Promise<TrajectoryFiles> {
    const k = this.count * this.dim;
    const steps = this.xs.length;
    const x = new Float32Array((steps + 1) * k);
    this.xs.forEach((row, s) => x.set(row, s * k));
    for (let v = 0; v < k; v++) x[steps * k + v] = final[v];
    const x0 = new Float32Array(steps * k);
    this.x0s.forEach((row, s) => x0.set(row, s * k));
    const files = {
      x: `${base}.traj-x.npy`,
      x0: `${base}.traj-x0.npy`,
      sigmas: `${base}.traj-sigmas.npy`,
      count: this.count,
    };
    await writeNpy(join(dir, files.x), x, [steps + 1, this.count, ...shape]);
    await writeNpy(join(dir, files.x0), x0, [steps, this.count, ...shape]);
    await writeNpy(join(dir, files.sigmas), Float64Array.from([...this.sigmas, 0]), [steps + 1]);
    return files;
  }
}

async function openSource(
  message: CompareStart,
  stores: Store[],
): Promise<{ source: CellSource; run: RunProvenance | null; engine: RunEngine | null }> {
  const src = message.source;
  if (src.kind === 'mixture')
    return { source: analyticSource(src.mixture, src.grid, src.label), run: null, engine: null };
  const store = openStore(src.dbPath, { readonly: true });
  stores.push(store);
  const engine = await openRunEngine(
    store,
    { db: src.dbPath, runs: src.runsDir, explicitDb: true },
    {
      run: src.run,
      ...(src.checkpoint !== undefined ? { checkpoint: src.checkpoint } : {}),
      ...(src.ema ? { ema: true } : {}),
      ...(src.engine ? { engine: src.engine } : {}),
    },
    () => {},
  );
  const { n } = message.spec;
  const guided = engine.numClasses > 0 && (message.spec.guidance ?? []).some((w) => w !== 1);
  const chunk = Math.max(1, Math.min(n, Math.floor(src.maxModelBatch / (guided ? 2 : 1))));
  const ckpt = engine.checkpoint;
  const run: RunProvenance = {
    run: engine.run.id,
    checkpoint: ckpt?.id ?? null,
    checkpointSha256: ckpt?.sha256 ?? null,
    step: ckpt?.step ?? null,
    ema: Boolean(src.ema),
  };
  const labels =
    engine.numClasses > 0 && src.classLabel !== undefined ? new Int32Array(n).fill(src.classLabel) : undefined;
  const source = runSource(engine, {
    chunk,
    ...(labels ? { labels } : {}),
    describe: {
      kind: 'run',
      ...run,
      engine: engine.engineName,
      ...(src.classLabel !== undefined ? { classLabel: src.classLabel } : {}),
    },
  });
  return { source, run, engine };
}

async function run(message: CompareStart, job: JobContext<FromCompareWorker>): Promise<void> {
  const { post } = job;
  const stores: Store[] = [];
  let engine: RunEngine | null = null;
  try {
    const opened = await openSource(message, stores);
    engine = opened.engine;
    const { source } = opened;
    const { rows, cells } = comparisonCells(message.spec);
    const dim = source.shape.reduce((a, b) => a * b, 1);
    post({
      type: 'started',
      threadId,
      shape: source.shape,
      rows,
      steps: [...message.spec.steps],
      cellsTotal: cells.length,
      model: source.describe,
      run: opened.run,
    });

    let recorder: TrajectoryRecorder | null = null;
    let lastProgress = 0;
    const t0 = performance.now();
    const result = await runComparison(message.spec, source, {
      dir: message.dir,
      signal: job.signal,
      onStep: async (cell, info, first) => {
        job.completedSteps++;
        if (cell >= 0 && first === 0) {
          if (!recorder || info.i === 0) {
            const budget = Math.floor(message.trajectoryValues / ((info.steps + 1) * dim));
            recorder = new TrajectoryRecorder(dim, Math.max(1, Math.min(message.trajectoryMaxSamples, budget)));
          }
          recorder.step(info);
        }
        const now = performance.now();
        if (now - lastProgress >= PROGRESS_MS || info.i === info.steps - 1) {
          lastProgress = now;
          post({ type: 'step', i: job.completedSteps, cell, cellStep: info.i + 1, steps: info.steps });
        }
        await yieldToEventLoop();
      },
      onCell: async (cell, samples, index) => {
        if (!recorder) throw new Error(`cell ${index} reported no steps`);
        const trajectory = await recorder.write(message.dir, cell.file.replace(/\.npy$/, ''), samples, source.shape);
        recorder = null;
        const shown = Float32Array.from(samples.subarray(0, Math.min(message.shown, message.spec.n) * dim));
        post({ type: 'cell', index, cell, samples: shown, trajectory }, [shown.buffer]);
      },
    });
    post({ type: 'done', ms: performance.now() - t0, result: resultJson(result) });
  } finally {
    await engine?.release();
    for (const store of stores) store.close();
  }
}

serveJob('compare', run);
