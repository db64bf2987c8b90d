/**
 * sampleRun's request check: everything that can be wrong with a request to sample a trained or imported run is
 * found here, before a worker starts, and answered with a ValidationError (NotFoundError for an unknown run or
 * checkpoint) that names the field. What is left (weights that fail to load, a missing model file) can only show in
 * the worker and arrives as job-error.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { RUN_SAMPLE_LIMITS, type RunSampleRequest } from '../api/contract.ts';
import { NotFoundError, ValidationError } from '../api/errors.ts';
import { importConfigOf } from '../cli/import-config.ts';
import { runFolder } from '../cli/studio-paths.ts';
import { buildNoiseGrid } from '../core/noise-grid.ts';
import { getSampler, SAMPLER_NAMES } from '../core/samplers/index.ts';
import type { ScheduleName } from '../core/schedules.ts';
import { SPACINGS } from '../core/spacing.ts';
import { TOY_CLASSES } from '../data/toy2d.ts';
import type { Store } from '../store/store.ts';
import type { Checkpoint, Run } from '../store/types.ts';
import { resolveTrainConfig, type TrainConfig } from '../train/config.ts';
import { checkSamplerOptions } from '../worker/analytic-plan.ts';
import type { RunSampleRequest as WorkerRequest } from '../worker/model-sample-messages.ts';

export interface PlannedRunSample {
  run: Run;
  /** The worker's request (its run / checkpoint field names). */
  worker: WorkerRequest;
  preview: number;
  /** Class count when known before the weights load (folder data sets: null). */
  numClasses: number | null;
  /** What the sample set records as its options: the sampler options asked for, plus guidance and class. */
  recordedOptions: Record<string, number | string | boolean>;
}

function check(condition: unknown, message: string): asserts condition {
  if (!condition) throw new ValidationError(message);
}

const isInt = (v: unknown, min: number, max: number): v is number =>
  typeof v === 'number' && Number.isInteger(v) && v >= min && v <= max;

/** The file the trainer writes beside a run's checkpoints (src/cli/train.ts DATASET_INFO_FILE). */
const DATASET_INFO_FILE = 'dataset.json';

/** Classes of a conditional trained run: its dataset.json, else what its data set is known to have. */
function trainedClasses(config: TrainConfig, run: Run, checkpoints: readonly Checkpoint[], runsDir: string) {
  if (!config.conditional) return 0;
  try {
    const info = JSON.parse(readFileSync(join(runFolder(run.id, checkpoints, runsDir), DATASET_INFO_FILE), 'utf8'));
    if (Number.isInteger(info?.numClasses)) return info.numClasses as number;
  } catch {
    // no dataset.json (runs trained by the studio): fall back to the data set's kind
  }
  const { data } = config;
  if (data.kind === 'toy' && data.toy) return TOY_CLASSES[data.toy];
  if (data.kind === 'mnist' || data.kind === 'fashion-mnist' || data.kind === 'cifar10') return 10;
  return null; // an image folder: its class count is known once the worker opens the run
}

/** Checks sampler options against the sampler's own: known keys, their types, and (by a dry run) their ranges. */
export async function checkedSamplerOptions(
  samplerName: string,
  raw: unknown,
): Promise<Record<string, number | string | boolean>> {
  check(
    raw === undefined || (raw !== null && typeof raw === 'object' && !Array.isArray(raw)),
    'samplerOptions must be an object',
  );
  const sampler = getSampler(samplerName);
  const options: Record<string, number | string | boolean> = {};
  for (const [key, value] of Object.entries((raw ?? {}) as Record<string, unknown>)) {
    check(key in sampler.defaults, `samplerOptions: "${key}" is not an option of ${sampler.label}`);
    const def = (sampler.defaults as Record<string, unknown>)[key];
    check(typeof value === typeof def, `samplerOptions: "${key}" of ${sampler.label} must be a ${typeof def}`);
    check(typeof value !== 'number' || Number.isFinite(value), `samplerOptions: "${key}" must be a finite number`);
    options[key] = value as number | string | boolean;
  }
  try {
    await checkSamplerOptions({ dim: 1, sampler, options });
  } catch (e) {
    throw new ValidationError(`samplerOptions: ${(e as Error).message}`);
  }
  return options;
}

export async function planRunSample(
  store: Store,
  runsDir: string,
  request: RunSampleRequest,
): Promise<PlannedRunSample> {
  check(!!request && typeof request === 'object' && !Array.isArray(request), 'the request must be an object');
  const { runId, checkpointId, ema, engine, sampler, steps, spacing, n, seed, classLabel, guidance } = request;
  check(typeof runId === 'string' && runId.length > 0, 'runId must be a run id');
  const run = store.getRun(runId);
  if (!run) throw new NotFoundError(`no run ${runId}`);
  check(engine === undefined || engine === 'tfjs' || engine === 'onnx', 'engine must be tfjs or onnx');
  check(ema === undefined || typeof ema === 'boolean', 'ema must be true or false');
  check(checkpointId === undefined || typeof checkpointId === 'string', 'checkpointId must be a checkpoint id');

  let timesteps: number;
  let numClasses: number | null;
  let schedule: ScheduleName;
  if (run.kind === 'import') {
    check(
      checkpointId === undefined && !ema,
      `run ${run.id} is an imported model: it has no checkpoints or EMA weights`,
    );
    check(engine !== 'tfjs', `run ${run.id} is an imported ONNX model: it runs on onnx only`);
    let c;
    try {
      c = importConfigOf(run.id, run.config);
    } catch (e) {
      throw new ValidationError((e as Error).message);
    }
    ({ timesteps, schedule } = c);
    numClasses = c.classes;
  } else {
    check(run.kind === 'train', `run ${run.id} is not a trained or imported model`);
    let config: TrainConfig;
    try {
      config = resolveTrainConfig(run.config);
    } catch (e) {
      throw new ValidationError(`run ${run.id} has a config this build cannot read: ${(e as Error).message}`);
    }
    const checkpoints = store.listCheckpoints(run.id);
    check(checkpoints.length > 0, `run ${run.id} has no checkpoint yet: train it first`);
    if (checkpointId !== undefined && !checkpoints.some((c) => c.id === checkpointId)) {
      throw new NotFoundError(`run ${run.id} has no checkpoint ${checkpointId}`);
    }
    ({ timesteps, schedule } = config);
    numClasses = trainedClasses(config, run, checkpoints, runsDir);
  }

  check(
    (SAMPLER_NAMES as readonly unknown[]).includes(sampler),
    `sampler must be one of ${SAMPLER_NAMES.join(', ')} (got ${JSON.stringify(sampler)})`,
  );
  const maxSteps = Math.min(timesteps, RUN_SAMPLE_LIMITS.maxSteps);
  check(isInt(steps, 1, maxSteps), `steps must be an integer in 1..${maxSteps} (the run has ${timesteps} timesteps)`);
  check(spacing === undefined || SPACINGS.includes(spacing), `spacing must be one of ${SPACINGS.join(', ')}`);
  check(isInt(n, 1, RUN_SAMPLE_LIMITS.maxSamples), `n must be an integer in 1..${RUN_SAMPLE_LIMITS.maxSamples}`);
  check(isInt(seed, 0, Number.MAX_SAFE_INTEGER), 'seed must be a non-negative safe integer');
  const maxPreview = Math.min(n, RUN_SAMPLE_LIMITS.maxPreview);
  const preview = request.preview ?? Math.min(n, RUN_SAMPLE_LIMITS.defaultPreview);
  check(isInt(preview, 1, maxPreview), `preview must be an integer in 1..${maxPreview}`);

  const conditional = numClasses === null || numClasses > 0;
  check(classLabel === undefined || conditional, `classLabel needs a conditional run; run ${run.id} is unconditional`);
  check(guidance === undefined || conditional, `guidance needs a conditional run; run ${run.id} is unconditional`);
  if (classLabel !== undefined) {
    const max = numClasses === null ? 1_000_000 : numClasses - 1;
    check(isInt(classLabel, 0, max), `classLabel must be an integer in 0..${max}`);
  }
  check(
    guidance === undefined || (typeof guidance === 'number' && guidance >= 0 && guidance <= 100),
    'guidance must be a number in 0..100',
  );

  const options = await checkedSamplerOptions(sampler, request.samplerOptions);
  try {
    buildNoiseGrid({ formulation: 'vp', schedule, timesteps, steps, ...(spacing ? { spacing } : {}) });
  } catch (e) {
    throw new ValidationError((e as Error).message);
  }

  const worker: WorkerRequest = {
    run: run.id,
    ...(checkpointId !== undefined ? { checkpoint: checkpointId } : {}),
    ...(ema ? { ema: true } : {}),
    ...(engine ? { engine } : {}),
    sampler,
    samplerOptions: options,
    steps,
    ...(spacing ? { spacing } : {}),
    n,
    seed,
    ...(classLabel !== undefined ? { classLabel } : {}),
    ...(guidance !== undefined ? { guidance } : {}),
  };
  const recordedOptions = {
    ...options,
    ...(conditional ? { guidance: guidance ?? 1 } : {}),
    ...(classLabel !== undefined ? { class: classLabel } : {}),
  };
  return { run, worker, preview, numClasses, recordedOptions };
}
