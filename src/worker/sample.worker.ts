/**
 * Worker thread that runs one analytic sampling job: the exact Gaussian-mixture denoiser under any core sampler.
 * It streams every step to the service (arrays transferred, not copied), writes the final samples as .npy and exits.
 * The service writes the database; this thread never touches it (one writer).
 */
import { parentPort, threadId } from 'node:worker_threads';
import { lowerWorkerPriority } from './background-priority.ts';
import { serializeError } from '../api/errors.ts';
import { BatchNoise, initialNoise, StreamPurpose } from '../core/rng.ts';
import type { Vec } from '../core/types.ts';
import { writeNpy } from '../io/npy-file.ts';
import { planAnalyticSampling } from './analytic-plan.ts';
import type { FromSampleWorker, ToSampleWorker } from './sample-messages.ts';

const port = parentPort;
lowerWorkerPriority();
if (!port) throw new Error('sample.worker.ts must run in a worker thread');

const controller = new AbortController();
let started = false;

function post(message: FromSampleWorker, transfer: ArrayBuffer[] = []): void {
  port!.postMessage(message, transfer);
}

function toFloat32(v: Vec): Float32Array<ArrayBuffer> {
  return Float32Array.from(v);
}

/** Let queued messages (a cancel) run: the sampler's awaits alone are microtasks and would starve them. */
function yieldToEventLoop(): Promise<void> {
  return new Promise((resolve) => setImmediate(resolve));
}

async function run(message: Extract<ToSampleWorker, { type: 'start' }>): Promise<void> {
  const { request, outPath } = message;
  let completedSteps = 0;
  try {
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
        signal: controller.signal,
        onStep: async (s) => {
          completedSteps = s.i;
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
  } catch (e) {
    if (controller.signal.aborted) post({ type: 'cancelled', completedSteps });
    else post({ type: 'error', error: serializeError(e) });
  } finally {
    port!.close();
  }
}

port.on('message', (message: ToSampleWorker) => {
  switch (message.type) {
    case 'start':
      if (started) return post({ type: 'error', error: { name: 'Error', message: 'a sample worker runs one job' } });
      started = true;
      void run(message);
      return;
    case 'cancel':
      controller.abort();
      return;
  }
});
