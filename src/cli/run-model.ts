/**
 * A trained run's network, as the commands that use one (sample --run, export-onnx) need it: the run and its config,
 * the checkpoint asked for (or the newest that loads), its raw or EMA weights, the data shape and the model IR.
 * Every problem the user can cause is a UsageError.
 */
import { readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { CheckpointManager, type LoadedCheckpoint } from '../checkpoint/manager.ts';
import { openDataset, type Dataset } from '../data/dataset.ts';
import type { ModelIR } from '../model/ir.ts';
import type { Store } from '../store/store.ts';
import type { Checkpoint, Run } from '../store/types.ts';
import { resolveTrainConfig, type TrainConfig } from '../train/config.ts';
import { datasetSpec, modelFor } from '../train/trainer.ts';
import { UsageError } from './errors.ts';
import { requireRun, usageErrors, usageErrorsAsync, type StudioPaths } from './studio-paths.ts';
import { DATASET_INFO_FILE, type DatasetInfo } from './train.ts';

/** The checkpoint asked for: a checkpoint id or a step number; else the newest one that loads. */
export async function loadCheckpoint(
  manager: CheckpointManager,
  runId: string,
  checkpoints: readonly Checkpoint[],
  which: string | undefined,
  log: (line: string) => void,
): Promise<LoadedCheckpoint> {
  if (checkpoints.length === 0) throw new UsageError(`run ${runId} has no checkpoints yet; train it first`);
  if (which === undefined) {
    const latest = await usageErrorsAsync(() => manager.loadLatestGood(runId));
    for (const s of latest.skipped)
      log(`checkpoint at step ${s.checkpoint.step} is unusable (${s.error}); using an earlier one`);
    return latest;
  }
  const found =
    checkpoints.find((c) => c.id === which) ??
    (/^\d+$/.test(which) ? checkpoints.find((c) => c.step === Number(which)) : undefined);
  if (!found) {
    throw new UsageError(
      `run ${runId} has no checkpoint "${which}"; its checkpoints are at steps ${checkpoints.map((c) => c.step).join(', ')}`,
    );
  }
  return manager.load(found.id);
}

/** What the model was built for: from the run folder's dataset.json, else (older runs) by opening the dataset. */
export async function datasetShape(config: TrainConfig, runDir: string): Promise<Dataset> {
  let info: DatasetInfo;
  try {
    info = JSON.parse(readFileSync(join(runDir, DATASET_INFO_FILE), 'utf8')) as DatasetInfo;
  } catch {
    return usageErrorsAsync(() => openDataset(datasetSpec(config)));
  }
  return {
    ...info,
    size: 0,
    read() {
      throw new Error('sampling reads no data');
    },
  };
}

export interface RunModel {
  run: Run;
  config: TrainConfig;
  checkpoint: Checkpoint;
  /** Canonical-layout parameters (raw or EMA, as asked). */
  weights: Map<string, Float32Array>;
  dataset: Dataset;
  ir: ModelIR;
}

/** Loads a trained run's weights and builds its IR. */
export async function loadRunModel(
  store: Store,
  paths: StudioPaths,
  request: { run: string; checkpoint?: string; ema?: boolean },
  log: (line: string) => void,
): Promise<RunModel> {
  const run = requireRun(store, request.run, paths);
  if (run.kind !== 'train') throw new UsageError(`run ${run.id} is a ${run.kind} run, not a trained model`);
  const config = usageErrors(() => resolveTrainConfig(run.config));
  const manager = new CheckpointManager(store, paths.runs);
  const loaded = await loadCheckpoint(manager, run.id, store.listCheckpoints(run.id), request.checkpoint, log);
  const { checkpoint, state } = loaded;
  const weights = request.ema ? state.ema : state.weights;
  if (!weights) throw new UsageError(`checkpoint at step ${checkpoint.step} holds no EMA weights; drop --ema`);
  const dataset = await datasetShape(config, dirname(checkpoint.path));
  const ir = usageErrors(() => modelFor(config, dataset));
  return { run, config, checkpoint, weights, dataset, ir };
}
