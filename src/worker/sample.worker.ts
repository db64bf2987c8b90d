/**
 * Worker thread that runs one analytic sampling job: the exact Gaussian-mixture denoiser under any core sampler.
 * It streams every step to the service (arrays transferred, not copied), writes the final samples as .npy and exits.
 * The service writes the database; this thread never touches it (one writer).
 */
import { threadId } from 'node:worker_threads';
import { BatchNoise, initialNoise, StreamPurpose } from '../core/rng.ts';
import type { Vec } from '../core/types.ts';
import { writeNpy } from '../io/npy-file.ts';
import { planAnalyticSampling } from './analytic-plan.ts';
import { serveJob, yieldToEventLoop, type JobContext } from './job-worker.ts';
import type { FromSampleWorker, ToSampleWorker } from './sample-messages.ts';

function toFloat32(v: Vec): Float32Array<ArrayBuffer> {
  return Float32Array.from(v);
}

async function run(
  message: Extract<ToSampleWorker, { type: 'start' }>,
  job: JobContext<FromSampleWorker>,
): Promise<void> {
  const { request, outPath } = message;
  const { post } = job;
  const plan = planAnalyticSampling(request);
  const { dim, grid } = plan;
  const { n, seed } = request;
  const steps = grid.sigmas.length - 1;
  const x = initialNoise(seed, 0, n, dim);
  for (let i = 0; i < x.length; i++) x[i] *= grid.initScale;
  const sigmas: Float64Array<ArrayBuffer> = Float64Array.from(grid.sigmas);
  post({ type: 'started', threadId, steps, n, dim, sigmas }, [sigmas.buffer]);

  const t0 = performance.now();
  const result = await plan.sampler.run(
    {
      denoiser: plan.denoiser,
      sigmas: grid.sigmas,
      x,
      noise: new BatchNoise(seed, 0, n, dim, StreamPurpose.sampler),
      signal: job.signal,
      onStep: async (s) => {
        job.completedSteps = s.i;
        const xs = toFloat32(s.x);
        const x0 = toFloat32(s.x0Pred);
        post(
          {
            type: 'step',
            i: s.i,
            steps: s.steps,
            sigma: s.sigma,
            sigmaNext: s.sigmaNext,
            nfe: s.nfe,
            x: xs,
            x0Pred: x0,
          },
          [xs.buffer, x0.buffer],
        );
        await yieldToEventLoop();
      },
    },
    plan.options,
  );
  const ms = performance.now() - t0;
  const final = toFloat32(result.x);
  if (!final.every(Number.isFinite)) throw new Error('sampling produced NaN or Inf values');
  await writeNpy(outPath, final, [n, dim]);
  post({ type: 'done', threadId, nfe: result.nfe, ms, x: final, path: outPath }, [final.buffer]);
}

serveJob('sample', run);
