/**
 * From an untrusted ComparisonRequest to what the compare worker runs: the ComparisonSpec and the resolved source.
 * Every problem the service can see before a worker starts is a ValidationError (or NotFoundError for unknown
 * presets, runs and checkpoints) whose message names the field.
 */
import type { ComparisonRequest, ComparisonSource } from '../api/contract.ts';
import { NotFoundError, ValidationError } from '../api/errors.ts';
import { importConfigOf } from '../cli/import-config.ts';
import { comparisonCells, type ComparisonSpec } from '../compare/comparison.ts';
import { mixtureDim, parseGaussianMixture, type GaussianMixture } from '../core/gmm.ts';
import { buildNoiseGrid, GRID_SCHEDULES } from '../core/noise-grid.ts';
import { getSampler, SAMPLER_NAMES } from '../core/samplers/index.ts';
import type { Store } from '../store/store.ts';
import { ANALYTIC_LIMITS, checkSamplerOptions } from '../worker/analytic-plan.ts';
import type { CompareWorkerSource } from '../worker/compare-messages.ts';
import { findPreset } from './mixture-presets.ts';

/** Bounds that keep one comparison to minutes, its files to tens of megabytes and its grid readable. */
export const COMPARISON_LIMITS = {
  maxCells: 64,
  maxAxisValues: 12,
  maxSteps: 1000,
  maxMixtureSamples: ANALYTIC_LIMITS.maxSamples,
  maxRunSamples: 256,
} as const;

export interface PlannedComparison {
  /** The request as stored (trimmed to known fields): a re-run starts from it. */
  request: ComparisonRequest;
  spec: ComparisonSpec;
  /** The worker's source, less the paths the service adds. */
  source:
    | Extract<CompareWorkerSource, { kind: 'mixture' }>
    | Omit<Extract<CompareWorkerSource, { kind: 'run' }>, 'dbPath' | 'runsDir' | 'maxModelBatch'>;
  label: string;
}

function check(condition: unknown, message: string): asserts condition {
  if (!condition) throw new ValidationError(message);
}

const isInt = (v: unknown, min: number, max: number): v is number =>
  typeof v === 'number' && Number.isInteger(v) && v >= min && v <= max;

function numberList(name: string, v: unknown, ok: (x: number) => boolean, what: string): number[] {
  check(Array.isArray(v) && v.length > 0, `${name} must be a non-empty array`);
  check(v.length <= COMPARISON_LIMITS.maxAxisValues, `${name} holds at most ${COMPARISON_LIMITS.maxAxisValues} values`);
  for (const x of v) check(typeof x === 'number' && ok(x), `${name} must hold ${what}, got ${JSON.stringify(x)}`);
  check(new Set(v).size === v.length, `${name} has repeated values`);
  return v as number[];
}

function planMixture(source: Extract<ComparisonSource, { kind: 'mixture' }>, steps: number[]) {
  let mixture: GaussianMixture;
  let label: string;
  const spec = source.mixture as unknown;
  check(spec && typeof spec === 'object', 'source.mixture must be { preset } or a mixture');
  if ('preset' in (spec as object)) {
    const id = (spec as { preset: unknown }).preset;
    const found = typeof id === 'string' ? findPreset(id) : undefined;
    if (!found) throw new NotFoundError(`unknown mixture preset "${String(id)}"`);
    mixture = found.mixture;
    label = found.id;
  } else {
    try {
      mixture = parseGaussianMixture(spec);
    } catch (e) {
      throw new ValidationError(`source.mixture: ${(e as Error).message}`);
    }
    label = 'inline mixture';
  }
  check(mixtureDim(mixture) <= ANALYTIC_LIMITS.maxDim, `the mixture's dimension exceeds ${ANALYTIC_LIMITS.maxDim}`);
  const { formulation, schedule, timesteps } = source;
  check(formulation === 'vp' || formulation === 'sigma', `source.formulation must be vp or sigma`);
  check(GRID_SCHEDULES.includes(schedule), `source.schedule must be one of ${GRID_SCHEDULES.join(', ')}`);
  check(timesteps === undefined || isInt(timesteps, 2, 100_000), 'source.timesteps must be an integer in 2..100000');
  const grid = { formulation, schedule, ...(timesteps !== undefined ? { timesteps } : {}) };
  const T = timesteps ?? 1000;
  for (const s of steps) {
    check(schedule === 'karras' || s <= T, `steps (${s}) cannot exceed the ${T} timesteps of a discrete schedule`);
    try {
      buildNoiseGrid({ ...grid, steps: s });
    } catch (e) {
      throw new ValidationError(`steps ${s}: ${(e as Error).message}`);
    }
  }
  return {
    source: { kind: 'mixture' as const, mixture, grid, label },
    stored: { kind: 'mixture' as const, mixture: source.mixture, ...grid },
    label: `mixture ${label}`,
  };
}

function planRun(store: Store, source: Extract<ComparisonSource, { kind: 'run' }>, guidance: number[] | undefined) {
  check(typeof source.run === 'string', 'source.run must be a run id');
  const run = store.getRun(source.run);
  if (!run) throw new NotFoundError(`no run ${source.run}`);
  const { checkpoint, ema, engine, classLabel } = source;
  check(engine === undefined || engine === 'tfjs' || engine === 'onnx', 'source.engine must be tfjs or onnx');
  check(ema === undefined || typeof ema === 'boolean', 'source.ema must be true or false');
  check(classLabel === undefined || isInt(classLabel, 0, 1_000_000), 'source.classLabel must be an integer >= 0');
  let classes: number;
  if (run.kind === 'import') {
    check(checkpoint === undefined && !ema, `run ${run.id} is an imported model; it has no checkpoints or EMA`);
    check(engine !== 'tfjs', `run ${run.id} is an imported ONNX model; it runs on onnx only`);
    classes = importConfigOf(run.id, run.config).classes;
  } else {
    check(run.kind === 'train', `run ${run.id} is not a trained or imported model`);
    if (checkpoint !== undefined) {
      check(typeof checkpoint === 'string', 'source.checkpoint must be a checkpoint id');
      const found = store.getCheckpoint(checkpoint);
      if (!found || found.runId !== run.id) throw new NotFoundError(`run ${run.id} has no checkpoint ${checkpoint}`);
    } else {
      check(store.listCheckpoints(run.id).length > 0, `run ${run.id} has no checkpoint yet: train it first`);
    }
    classes = run.config.conditional === true ? 1 : 0;
  }
  check(!guidance || classes > 0, `guidance needs a conditional run; run ${run.id} is unconditional`);
  check(classLabel === undefined || classes > 0, `source.classLabel needs a conditional run`);
  const stored = {
    kind: 'run' as const,
    run: run.id,
    ...(checkpoint !== undefined ? { checkpoint } : {}),
    ...(ema ? { ema: true } : {}),
    ...(engine ? { engine } : {}),
    ...(classLabel !== undefined ? { classLabel } : {}),
  };
  return { source: stored, stored, label: `run ${run.name}` };
}

export async function planComparison(store: Store, request: ComparisonRequest): Promise<PlannedComparison> {
  check(request && typeof request === 'object', 'the request must be an object');
  const { name, source, n, seed } = request;
  check(name === undefined || (typeof name === 'string' && name.length <= 200), 'name must be text (200 at most)');
  check(source && typeof source === 'object', 'source must be { kind: "mixture", ... } or { kind: "run", ... }');
  check(source.kind === 'mixture' || source.kind === 'run', 'source.kind must be "mixture" or "run"');

  check(Array.isArray(request.samplers) && request.samplers.length > 0, 'samplers must be a non-empty array');
  for (const s of request.samplers)
    check(
      (SAMPLER_NAMES as readonly unknown[]).includes(s),
      `samplers: unknown sampler ${JSON.stringify(s)} (one of ${SAMPLER_NAMES.join(', ')})`,
    );
  check(new Set(request.samplers).size === request.samplers.length, 'samplers has repeated values');
  const steps = numberList(
    'steps',
    request.steps,
    (x) => isInt(x, 1, COMPARISON_LIMITS.maxSteps),
    `integers in 1..${COMPARISON_LIMITS.maxSteps}`,
  );
  const eta =
    request.eta === undefined ? undefined : numberList('eta', request.eta, (x) => x >= 0 && x <= 10, 'numbers >= 0');
  const guidance =
    request.guidance === undefined
      ? undefined
      : numberList('guidance', request.guidance, (x) => x >= 0 && x <= 100, 'numbers in 0..100');
  check(!(eta && guidance), 'give one third axis: eta or guidance, not both');
  if (eta) {
    for (const s of request.samplers)
      check('eta' in getSampler(s).defaults, `samplers: ${s} has no eta option, so it cannot take the eta axis`);
  }
  check(source.kind === 'run' || !guidance, 'guidance needs a conditional run; a mixture has no classes');
  const maxN = source.kind === 'mixture' ? COMPARISON_LIMITS.maxMixtureSamples : COMPARISON_LIMITS.maxRunSamples;
  check(isInt(n, 1, maxN), `n must be an integer in 1..${maxN}`);
  check(isInt(seed, 0, Number.MAX_SAFE_INTEGER), 'seed must be a non-negative safe integer');

  const spec: ComparisonSpec = {
    ...(name ? { name } : {}),
    samplers: [...request.samplers],
    steps: [...steps],
    ...(eta ? { eta: [...eta] } : {}),
    ...(guidance ? { guidance: [...guidance] } : {}),
    n,
    seed,
  };
  let cellCount: number;
  try {
    cellCount = comparisonCells(spec).cells.length;
  } catch (e) {
    throw new ValidationError((e as Error).message);
  }
  check(cellCount <= COMPARISON_LIMITS.maxCells, `${cellCount} cells exceed ${COMPARISON_LIMITS.maxCells}`);
  // Option ranges (e.g. DDIM's eta in [0, 1]) fail now, not moments later in the worker.
  for (const s of request.samplers) {
    for (const e of eta ?? [undefined]) {
      await checkSamplerOptions({ dim: 1, sampler: getSampler(s), options: e === undefined ? {} : { eta: e } });
    }
  }
  const planned = source.kind === 'mixture' ? planMixture(source, steps) : planRun(store, source, guidance);
  return {
    request: {
      ...(name ? { name } : {}),
      source: planned.stored,
      samplers: spec.samplers,
      steps: spec.steps,
      ...(eta ? { eta: spec.eta } : {}),
      ...(guidance ? { guidance: spec.guidance } : {}),
      n,
      seed,
    } as ComparisonRequest,
    spec,
    source: planned.source,
    label: planned.label,
  };
}
