/**
 * The training loop. One function drives a run from its config (fresh) or from its latest good checkpoint (resume),
 * in any host: the CLI's process, or a worker thread for the studio, on either engine (engines/: tfjs, or the step
 * compiled to one ONNX graph run by onnxruntime).
 *
 * Exactness: everything random comes from Philox streams whose positions are in the checkpoint (training inputs),
 * from pure functions of (seed, epoch, position) (data order, flips), or of (seed, step) (dropout). Optimizer moments
 * and EMA weights are stored, the learning rate is a function of the step. So N steps straight and N/2 + resume + N/2
 * give the same losses and, on deterministic backends (cpu, wasm), bit-identical weights.
 */
import { NormalStream, StreamPurpose } from '../core/rng.ts';
import { makeSchedule } from '../core/schedules.ts';
import type { CheckpointManager } from '../checkpoint/manager.ts';
import type { TrainingState } from '../checkpoint/state.ts';
import { openDataset, type Dataset } from '../data/dataset.ts';
import { BatchLoader } from '../data/loader.ts';
import { BACKEND_ORDER, selectBackend, type BackendName } from '../engines/tfjs/backend.ts';
import { modelPreset } from '../model/config.ts';
import { initParams } from '../model/init.ts';
import { buildIR, paramCount, type ModelIR } from '../model/ir.ts';
import type { Store } from '../store/store.ts';
import type { Checkpoint, MetricRow } from '../store/types.ts';
import type { TrainConfig } from './config.ts';
import { learningRate } from './lr-schedule.ts';
import { drawPreview, type Preview } from './preview.ts';
import { savePreview } from './preview-files.ts';
import { LOSS_BUCKETS, ProgressTracker, type TrainProgress } from './progress.ts';
import { dropoutSeed, drawStepInputs } from './step-inputs.ts';
import type { TrainEngine } from './engines/engine.ts';
import { OnnxTrainEngine } from './engines/onnx-engine.ts';
import { TfjsTrainEngine } from './engines/tfjs-engine.ts';

export const ENGINE_PREFIX = 'tfjs';

export class NonFiniteLossError extends Error {
  override name = 'NonFiniteLossError';
}

export type ControlState = 'run' | 'pause' | 'stop';

export interface TrainHooks {
  onProgress?(p: TrainProgress): void;
  onPreview?(p: Preview & { runId: string; shape: readonly number[] }): void | Promise<void>;
  onCheckpoint?(c: Checkpoint): void;
  onLog?(line: string): void;
  /** Polled between steps. */
  control?(): ControlState;
  /** Called while paused; resolves with the next state ('run' or 'stop'). */
  waitWhilePaused?(): Promise<ControlState>;
}

export interface TrainOutcome {
  runId: string;
  status: 'completed' | 'stopped';
  step: number;
  lastLoss: number | null;
  backend: string;
  params: number;
}

/** The model a config implies for a dataset. */
export function modelFor(config: TrainConfig, dataset: Dataset): ModelIR {
  const image = dataset.shape.length === 3;
  if (config.conditional && dataset.numClasses === 0) {
    throw new Error(`conditional training needs class labels, and ${dataset.name} has none`);
  }
  const mc = modelPreset(config.preset, {
    channels: image ? dataset.shape[2] : dataset.shape[0],
    size: image ? dataset.shape[0] : 0,
    numClasses: config.conditional ? dataset.numClasses : 0,
    learnedVariance: config.learnedVariance,
  });
  return buildIR(mc);
}

export function datasetSpec(config: TrainConfig) {
  const d = config.data;
  return { kind: d.kind, dir: d.dir, imageSize: d.imageSize, channels: d.channels, toy: d.toy, toySize: d.toySize };
}

async function chooseBackend(config: TrainConfig, log: (s: string) => void): Promise<string> {
  const preference: readonly BackendName[] = config.backend === 'auto' ? BACKEND_ORDER : [config.backend];
  const sel = await selectBackend(preference);
  for (const t of sel.tried) log(`backend ${t.name} unavailable: ${t.error}`);
  return sel.name;
}

/**
 * Train run `runId` (its row holds the config) until config.steps, from scratch or from its latest good checkpoint.
 * Marks the run running / completed / cancelled / failed in the store; a failure keeps the last good checkpoint.
 */
export async function trainRun(args: {
  store: Store;
  checkpoints: CheckpointManager;
  runId: string;
  config: TrainConfig;
  hooks?: TrainHooks;
  resume: boolean;
  /** Awaited before every step: a worker passes a macrotask yield so that pause/stop messages get through. */
  yieldBetweenSteps?: () => Promise<void>;
  /** onnx engine: onnxruntime's intra-op threads (default: its own, one per core). */
  onnxThreads?: number;
}): Promise<TrainOutcome> {
  const { store, checkpoints, runId, config } = args;
  const hooks = args.hooks ?? {};
  const log = (s: string) => hooks.onLog?.(s);
  try {
    return await trainInner(
      store,
      checkpoints,
      runId,
      config,
      hooks,
      args.resume,
      log,
      args.yieldBetweenSteps,
      args.onnxThreads,
    );
  } catch (e) {
    const err = e as Error;
    store.updateRunStatus(runId, 'failed', err.message);
    throw e;
  }
}

async function trainInner(
  store: Store,
  checkpoints: CheckpointManager,
  runId: string,
  config: TrainConfig,
  hooks: TrainHooks,
  resume: boolean,
  log: (s: string) => void,
  yieldBetweenSteps?: () => Promise<void>,
  onnxThreads?: number,
): Promise<TrainOutcome> {
  const backend = await chooseBackend(config, log);
  const dataset = await openDataset(datasetSpec(config));
  if (dataset.skipped?.length)
    log(
      `skipped ${dataset.skipped.length} unreadable files (first: ${dataset.skipped[0].path}: ${dataset.skipped[0].reason})`,
    );
  if (dataset.size < config.batchSize)
    throw new Error(`${dataset.name} holds ${dataset.size} examples, fewer than one batch of ${config.batchSize}`);
  const ir = modelFor(config, dataset);
  const schedule = makeSchedule(config.schedule, config.timesteps);
  const numClasses = ir.inputs.label?.numClasses ?? 0;

  let state: TrainingState | null = null;
  if (resume) {
    const latest = await checkpoints.loadLatestGood(runId);
    for (const s of latest.skipped)
      log(`checkpoint at step ${s.checkpoint.step} is unusable (${s.error}); using an earlier one`);
    state = latest.state;
    if (state.backend !== backend)
      log(
        `resuming on ${backend}; the checkpoint was written on ${state.backend} (bit-exact only on the same backend)`,
      );
    log(`resuming from step ${state.step}`);
  }

  const discreteData = dataset.shape.length === 3;
  const weights = state ? state.weights : initParams(ir, config.seed);
  const engine: TrainEngine =
    config.engine === 'onnx'
      ? await OnnxTrainEngine.create(ir, config, schedule, discreteData, weights, state, log, { threads: onnxThreads })
      : new TfjsTrainEngine(ir, config, schedule, discreteData, backend, weights, state);
  const loaderOptions = { seed: config.seed, batchSize: config.batchSize, hflip: config.hflip };
  let loader: BatchLoader;
  let stream: NormalStream;
  let step = 0;
  if (state) {
    loader = BatchLoader.restore(dataset, loaderOptions, state.data);
    stream = new NormalStream(config.seed, 0, StreamPurpose.train, Number(state.rng.train));
    step = state.step;
  } else {
    loader = new BatchLoader(dataset, loaderOptions);
    stream = new NormalStream(config.seed, 0, StreamPurpose.train);
  }

  const params = paramCount(ir);
  store.setRunEngine(runId, engine.name);
  store.updateRunStatus(runId, 'running');
  log(
    `${config.preset} model, ${params.toLocaleString('en-US')} parameters, ${engine.name}, ${dataset.name} (${dataset.size} examples)`,
  );

  const lrSchedule = {
    lr: config.lr,
    warmupSteps: config.warmupSteps,
    decay: config.lrDecay,
    totalSteps: config.steps,
    minLr: 0,
  };
  const tracker = new ProgressTracker(config.steps, config.batchSize, schedule.T);
  // A resumed run's smoothed loss continues from its stored history (display only; nothing random depends on it).
  if (state) tracker.seedLosses(store.metrics(runId, 'loss', Math.max(0, step - 1000), step).map((p) => p.value));
  const previewSpec = {
    ir,
    schedule,
    prediction: config.objective,
    seed: config.seed,
    count: config.previewCount,
    steps: config.previewSteps,
    numClasses,
  };
  const pending: MetricRow[] = [];
  let lastLoss: number | null = null;
  let lastCheckpointStep = state?.step ?? -1;

  const flushMetrics = () => {
    if (pending.length) store.appendMetrics(pending.splice(0));
  };

  const snapshot = (): TrainingState => ({
    step,
    weights: engine.params(),
    ema: engine.ema(),
    optimizer: { kind: config.optimizer, ...engine.optimizerState() },
    shapes: new Map(ir.params.map((p) => [p.name, p.shape])),
    lr: { current: learningRate(lrSchedule, Math.max(0, step - 1)), base: config.lr },
    rng: { train: stream.position },
    data: loader.position,
    config: config as unknown,
    backend: engine.backend,
    versions: { 'diffusion-studio': '0.1.0', ...engine.versions },
    ...(lastLoss !== null ? { metrics: { loss: lastLoss } } : {}),
  });

  const saveCheckpoint = async () => {
    flushMetrics();
    const row = await checkpoints.save(runId, snapshot(), {
      metrics: lastLoss !== null ? { loss: lastLoss } : undefined,
    });
    lastCheckpointStep = step;
    await checkpoints.prune(runId, config.keepLast);
    hooks.onCheckpoint?.(row);
    log(`checkpoint at step ${step}`);
    return row;
  };

  // Previews are drawn only for a viewer (the studio's hooks); those at checkpoints are also kept in the run folder
  // for its film strip. The preview stream is separate, so drawing them never changes training.
  const preview = async (atCheckpoint: boolean) => {
    if (!hooks.onPreview) return;
    const p = await drawPreview(previewSpec, engine.ema(), step);
    if (atCheckpoint) await savePreview(checkpoints.runDir(runId), p, ir.inputs.x.shape);
    await hooks.onPreview({ ...p, runId, shape: ir.inputs.x.shape });
  };

  try {
    if (!state) await saveCheckpoint(); // step 0: a run can always be resumed or forked from its start
    while (step < config.steps) {
      await yieldBetweenSteps?.();
      let control = hooks.control?.() ?? 'run';
      if (control === 'pause') {
        flushMetrics();
        store.updateRunStatus(runId, 'paused');
        control = (await hooks.waitWhilePaused?.()) ?? 'run';
        if (control === 'run') store.updateRunStatus(runId, 'running');
      }
      if (control === 'stop') {
        if (lastCheckpointStep !== step) await saveCheckpoint();
        if (lastLoss !== null) store.updateRunProgress(runId, step, lastLoss);
        store.updateRunStatus(runId, 'cancelled');
        return { runId, status: 'stopped', step, lastLoss, backend: engine.name, params };
      }

      const started = performance.now();
      const batch = loader.next();
      const inputs = drawStepInputs(stream, schedule, batch.x, batch.labels, {
        numClasses,
        labelDropout: config.labelDropout,
      });
      const lr = learningRate(lrSchedule, step);
      const batchInputs = { x0: batch.x, eps: inputs.eps, xt: inputs.xt, t: inputs.t, labels: inputs.labels };
      const result = await engine.step(batchInputs, lr, dropoutSeed(config.seed, step));
      const { loss, gradNorm } = result;
      if (!result.applied) {
        const what = Number.isFinite(loss) ? `gradient norm became ${gradNorm}` : `loss became ${loss}`;
        throw new NonFiniteLossError(
          `${what} at step ${step + 1}; training stopped and the last good checkpoint (step ${lastCheckpointStep}) is kept — ` +
            'resume or fork from it with a lower learning rate or stronger gradient clipping',
        );
      }
      engine.updateEma();
      step += 1;
      lastLoss = loss;

      const now = Date.now();
      pending.push(
        { runId, step, name: 'loss', value: loss, wallTime: now },
        { runId, step, name: 'lr', value: lr, wallTime: now },
        { runId, step, name: 'grad_norm', value: gradNorm, wallTime: now },
      );
      const report = tracker.record({
        runId,
        step,
        loss,
        perSample: result.perSample,
        t: inputs.t,
        lr,
        gradNorm,
        stepMs: performance.now() - started,
        backend: engine.name,
      });
      if (report) {
        report.bucketLoss.forEach((v, k) => {
          if (v !== null) pending.push({ runId, step, name: `loss_t${k}`, value: v, wallTime: now });
        });
        pending.push({ runId, step, name: 'images_per_sec', value: report.imagesPerSec, wallTime: now });
        flushMetrics();
        store.updateRunProgress(runId, step, loss);
        hooks.onProgress?.(report);
      }
      if (step % config.checkpointEvery === 0 || step === config.steps) {
        await saveCheckpoint();
        await preview(true);
      } else if (config.previewEvery > 0 && step % config.previewEvery === 0) {
        await preview(false);
      }
    }
    flushMetrics();
    store.updateRunProgress(runId, step, lastLoss);
    store.updateRunStatus(runId, 'completed');
    return { runId, status: 'completed', step, lastLoss, backend: engine.name, params };
  } finally {
    flushMetrics();
    await engine.dispose();
  }
}

export { LOSS_BUCKETS };
