/**
 * Worker thread that trains one run: the same trainRun the CLI uses, driven by messages (pause, resume, stop) and
 * reporting progress, previews and checkpoints as they happen. Exits after its final message (done or error).
 */
import { availableParallelism } from 'node:os';
import { parentPort, threadId } from 'node:worker_threads';
import { lowerWorkerPriority } from './background-priority.ts';
import { serializeError } from '../api/errors.ts';
import { CheckpointManager } from '../checkpoint/manager.ts';
import { openStore } from '../store/open.ts';
import { resolveTrainConfig } from '../train/config.ts';
import { trainRun, type ControlState } from '../train/trainer.ts';
import type { FromTrainWorker, ToTrainWorker } from './train-messages.ts';

const port = parentPort;
lowerWorkerPriority();
if (!port) throw new Error('train.worker.ts must run in a worker thread');

let control: ControlState = 'run';
let wake: ((s: ControlState) => void) | null = null;

function post(message: FromTrainWorker, transfer: ArrayBuffer[] = []): void {
  port!.postMessage(message, transfer);
}

/** Lets queued messages (pause, stop) in between training steps, which are synchronous tfjs work. */
const yieldToEventLoop = () => new Promise<void>((resolve) => setImmediate(resolve));

async function run(start: Extract<ToTrainWorker, { type: 'start' }>): Promise<void> {
  const { runId } = start;
  const store = openStore(start.dbPath);
  try {
    const run = store.getRun(runId);
    if (!run) throw new Error(`no run ${runId} in ${start.dbPath}`);
    const config = resolveTrainConfig(run.config);
    const checkpoints = new CheckpointManager(store, start.runsDir);
    post({ type: 'started', runId, threadId });
    const outcome = await trainRun({
      store,
      checkpoints,
      runId,
      config,
      resume: start.resume,
      // In the studio the host's main thread (UI events, the server) keeps a core: onnxruntime gets the rest.
      onnxThreads: Math.max(1, availableParallelism() - 1),
      hooks: {
        onLog: (line) => post({ type: 'log', runId, line }),
        onProgress: (progress) => post({ type: 'progress', progress }),
        onCheckpoint: (checkpoint) => post({ type: 'checkpoint', runId, checkpoint }),
        onPreview: (p) => {
          const samples = Float32Array.from(p.samples);
          post(
            { type: 'preview', runId, step: p.step, samples, count: p.count, shape: [...p.shape], labels: p.labels },
            [samples.buffer],
          );
        },
        control: () => control,
        waitWhilePaused: () => {
          post({ type: 'paused', runId });
          return new Promise<ControlState>((resolve) => {
            wake = (s) => {
              if (s === 'run') post({ type: 'resumed', runId });
              resolve(s);
            };
          });
        },
      },
      yieldBetweenSteps: yieldToEventLoop,
    });
    post({ type: 'done', outcome });
  } catch (e) {
    post({ type: 'error', runId, error: serializeError(e) });
  } finally {
    store.close();
  }
}

port.on('message', (message: ToTrainWorker) => {
  switch (message.type) {
    case 'start':
      void run(message).finally(() => port.close());
      break;
    case 'pause':
      if (control === 'run') control = 'pause';
      break;
    case 'resume':
      control = 'run';
      wake?.('run');
      wake = null;
      break;
    case 'stop':
      control = 'stop';
      wake?.('stop');
      wake = null;
      break;
  }
});
