/**
 * Worker thread that samples a run's network (trained: tfjs or onnx; imported: onnx). onnxruntime's run() blocks
 * its thread for a whole forward pass, so this never runs on the service's thread. It opens the database read-only
 * (the service stays the one writer), samples in chunks of at most maxModelBatch per model call with per-sample noise
 * streams (the same samples as `sample --run` with the same seed), streams bounded step previews, writes the .npy
 * and exits. Cancel is checked between model calls.
 */
import { threadId } from 'node:worker_threads';
import { openRunEngine } from '../cli/run-engine.ts';
import { sampleInChunks } from '../core/batched-sampling.ts';
import { buildNoiseGrid } from '../core/noise-grid.ts';
import { getSampler } from '../core/samplers/index.ts';
import { writeNpy } from '../io/npy-file.ts';
import { openStore } from '../store/open.ts';
import { serveJob, yieldToEventLoop, type JobContext } from './job-worker.ts';
import type { FromModelSampleWorker, ModelSampleStart } from './model-sample-messages.ts';

async function run(message: ModelSampleStart, job: JobContext<FromModelSampleWorker>): Promise<void> {
  const { request, outPath } = message;
  const { post } = job;
  const store = openStore(message.dbPath, { readonly: true });
  try {
    const paths = { db: message.dbPath, runs: message.runsDir, explicitDb: true };
    const model = await openRunEngine(
      store,
      paths,
      {
        run: request.run,
        ...(request.checkpoint !== undefined ? { checkpoint: request.checkpoint } : {}),
        ...(request.ema ? { ema: true } : {}),
        ...(request.engine ? { engine: request.engine } : {}),
        ...(message.intraOpThreads !== undefined ? { intraOpThreads: message.intraOpThreads } : {}),
      },
      () => {},
    );
    try {
      const { n, seed } = request;
      const image = model.shape.length === 3;
      const dim = model.shape.reduce((a, b) => a * b, 1);
      const grid = buildNoiseGrid({
        formulation: 'vp',
        schedule: model.schedule,
        timesteps: model.timesteps,
        steps: request.steps,
        ...(request.spacing ? { spacing: request.spacing } : {}),
      });
      const k = model.numClasses;
      if (request.classLabel !== undefined && !(request.classLabel >= 0 && request.classLabel < k)) {
        throw new RangeError(
          k === 0
            ? `run ${request.run} is unconditional; it takes no class`
            : `classLabel must be in 0..${k - 1} (got ${request.classLabel})`,
        );
      }
      const labels = k > 0 ? Int32Array.from({ length: n }, (_, j) => request.classLabel ?? j % k) : undefined;
      const guided = labels !== undefined && (request.guidance ?? 1) !== 1;
      const chunk = Math.max(1, Math.floor(message.maxModelBatch / (guided ? 2 : 1)));
      const chunks = Math.ceil(n / chunk);
      const steps = grid.sigmas.length - 1;
      const sigmas = Float64Array.from(grid.sigmas);
      const checkpointId = model.checkpoint?.id ?? null;
      const engine = model.engineName;
      post({ type: 'started', threadId, engine, steps, n, shape: model.shape, chunks, sigmas, checkpointId }, [
        sigmas.buffer,
      ]);
      const preview = Math.min(message.previewSamples, n) * dim;
      const t0 = performance.now();
      const result = await sampleInChunks({
        vp: (l) => model.vp(l),
        grid,
        prediction: model.prediction,
        ...(image ? { clipX0: 1 } : {}),
        sampler: getSampler(request.sampler),
        options: request.samplerOptions ?? {},
        n,
        chunk,
        seed,
        ...(labels ? { labels, guidance: request.guidance ?? 1 } : {}),
        signal: job.signal,
        onStep: async (first, _count, s) => {
          const c = first / chunk;
          job.completedSteps = c * steps + s.i;
          const withPreview = first === 0 && preview > 0;
          const x = withPreview ? Float32Array.from(s.x.subarray(0, preview)) : undefined;
          const x0 = withPreview ? Float32Array.from(s.x0Pred.subarray(0, preview)) : undefined;
          post(
            {
              type: 'step',
              i: job.completedSteps,
              chunk: c,
              steps,
              sigma: s.sigma,
              sigmaNext: s.sigmaNext,
              nfe: s.nfe,
              ...(x && x0 ? { x, x0Pred: x0 } : {}),
            },
            x && x0 ? [x.buffer, x0.buffer] : [],
          );
          await yieldToEventLoop();
        },
      });
      const ms = performance.now() - t0;
      const samples = result.samples;
      if (!samples.every(Number.isFinite)) throw new Error('sampling produced NaN or Inf values');
      if (image) for (let i = 0; i < samples.length; i++) samples[i] = Math.max(-1, Math.min(1, samples[i]));
      await writeNpy(outPath, samples, [n, ...model.shape]);
      const x = Float32Array.from(samples.subarray(0, preview));
      post({ type: 'done', threadId, nfe: result.nfe, ms, path: outPath, checkpointId, x }, [x.buffer]);
    } finally {
      await model.release();
    }
  } finally {
    store.close();
  }
}

serveJob('model-sample', run);
