/**
 * Stored trajectories: a sample set's row says where its trajectory folder is and how to read it
 * (trajectory_json), the folder holds x.npy [steps + 1, count, ...shape] and x0.npy [steps, count, ...shape] in
 * sigma space (x = x0 + sigma * eps), exactly as the job's events carried them. This module writes and reads that
 * format, turns rows into TrajectorySummary, and plays a stored trajectory back as job events.
 */
import { mkdir } from 'node:fs/promises';
import { join } from 'node:path';
import type { JobEvent, TrajectorySummary } from '../api/contract.ts';
import { readNpy, writeNpy } from '../io/npy-file.ts';
import type { TrajectoryData } from '../io/trajectory-export.ts';
import type { JsonObject, SampleSet } from '../store/types.ts';
import { samplesKept, TrajectoryRecorder, type RecordedTrajectory } from './trajectory-recorder.ts';

/** What trajectory_json holds (version 1). */
export interface TrajectoryInfo {
  version: 1;
  formulation: 'vp' | 'sigma';
  /** One sample's shape. */
  shape: number[];
  /** Samples kept. */
  count: number;
  sigmas: number[];
  /** Model evaluations done by the end of each step's report, and in all. */
  nfe: number[];
  totalNfe: number;
  ms: number;
  engine: string | null;
}

export interface StoredTrajectory {
  info: TrajectoryInfo;
  x: Float32Array;
  x0: Float32Array;
}

const X_FILE = 'x.npy';
const X0_FILE = 'x0.npy';

/** The trajectory folder of a job's sample set: beside its samples file. */
export function trajectoryDir(samplesDir: string, jobId: string): string {
  return join(samplesDir, `${jobId}.trajectory`);
}

export async function writeTrajectory(
  dir: string,
  t: Omit<RecordedTrajectory, 'nfe'>,
  info: TrajectoryInfo,
): Promise<void> {
  const steps = info.sigmas.length - 1;
  await mkdir(dir, { recursive: true });
  await writeNpy(join(dir, X_FILE), t.x, [steps + 1, info.count, ...info.shape]);
  await writeNpy(join(dir, X0_FILE), t.x0, [steps, info.count, ...info.shape]);
}

/** trajectory_json read back, or an error that names the sample set. */
export function trajectoryInfo(set: SampleSet): TrajectoryInfo {
  const t = set.trajectory as Partial<TrajectoryInfo> | null;
  const ok =
    !!t &&
    t.version === 1 &&
    (t.formulation === 'vp' || t.formulation === 'sigma') &&
    Array.isArray(t.shape) &&
    t.shape.every((d) => Number.isInteger(d) && d > 0) &&
    Number.isInteger(t.count) &&
    Array.isArray(t.sigmas) &&
    t.sigmas.length >= 2 &&
    t.sigmas.every((s) => typeof s === 'number') &&
    Array.isArray(t.nfe) &&
    t.nfe.length === t.sigmas.length - 1 &&
    typeof t.totalNfe === 'number';
  if (!ok || !set.trajectoryPath) throw new Error(`sample set ${set.id} has no readable trajectory record`);
  return { ...(t as TrajectoryInfo), engine: t.engine ?? null, ms: t.ms ?? 0 };
}

export async function readTrajectory(set: SampleSet): Promise<StoredTrajectory> {
  const info = trajectoryInfo(set);
  const steps = info.sigmas.length - 1;
  const dim = info.shape.reduce((a, b) => a * b, 1);
  const [x, x0] = await Promise.all([
    readNpy(join(set.trajectoryPath!, X_FILE)),
    readNpy(join(set.trajectoryPath!, X0_FILE)),
  ]);
  const expect = (a: { data: ArrayLike<number> }, rows: number, what: string) => {
    if (!(a.data instanceof Float32Array) || a.data.length !== rows * info.count * dim) {
      throw new Error(
        `the stored trajectory of ${set.id} is damaged: ${what} does not hold ${rows} x ${info.count} x ${dim} float32 values`,
      );
    }
    return a.data;
  };
  return { info, x: expect(x, steps + 1, X_FILE), x0: expect(x0, steps, X0_FILE) };
}

function samplerLabel(set: SampleSet): string {
  return `${set.sampler} · ${set.steps} steps · seed ${set.seed}`;
}

/** A row as the lab lists it; null when the row kept no (readable) trajectory. */
export function trajectorySummary(set: SampleSet): TrajectorySummary | null {
  let info: TrajectoryInfo;
  try {
    info = trajectoryInfo(set);
  } catch {
    return null;
  }
  const m = set.model as JsonObject;
  const source = set.runId ? 'run' : 'analytic';
  const what =
    source === 'run'
      ? `${String(m.runName ?? set.runId)}${typeof m.step === 'number' ? ` @ ${m.step}` : ''}${m.ema ? ' EMA' : ''}`
      : `mixture ${typeof m.preset === 'string' ? m.preset : '(custom)'}`;
  return {
    id: set.id,
    source,
    label: `${what} · ${samplerLabel(set)}`,
    runId: set.runId,
    checkpointId: set.checkpointId,
    model: set.model,
    sampler: set.sampler,
    options: set.options,
    steps: set.steps,
    seed: set.seed,
    n: set.n,
    count: info.count,
    shape: info.shape,
    formulation: info.formulation,
    sigmas: info.sigmas,
    engine: info.engine,
    createdAt: set.createdAt,
  };
}

/** A stored trajectory as the pictures draw it: x in the model's own space (VP: x_t = x / sqrt(1 + sigma^2)). */
export function trajectoryPictureData(t: StoredTrajectory): TrajectoryData {
  const { info } = t;
  const size = info.count * info.shape.reduce((a, b) => a * b, 1);
  const x = Float32Array.from(t.x);
  if (info.formulation === 'vp') {
    info.sigmas.forEach((sigma, s) => {
      const scale = 1 / Math.sqrt(1 + sigma * sigma);
      for (let k = s * size; k < (s + 1) * size; k++) x[k] *= scale;
    });
  }
  return { shape: info.shape, n: info.count, sigmas: info.sigmas, x, x0: t.x0 };
}

const yieldToEventLoop = () => new Promise<void>((resolve) => setImmediate(resolve));

/**
 * Plays a stored trajectory back as the events of a job: job-started (replay: true), one job-step per step, then
 * job-done, yielding between steps so that a long one does not hold up the host.
 */
export async function replayTrajectory(
  set: SampleSet,
  summary: TrajectorySummary,
  t: StoredTrajectory,
  jobId: string,
  emit: (event: JobEvent) => void,
): Promise<void> {
  const { info } = t;
  const steps = info.sigmas.length - 1;
  const dim = info.shape.reduce((a, b) => a * b, 1);
  const size = info.count * dim;
  emit({
    type: 'job-started',
    jobId,
    kind: summary.source === 'run' ? 'sample-run' : 'sample-analytic',
    steps,
    n: info.count,
    dim,
    sigmas: Float64Array.from(info.sigmas),
    formulation: info.formulation,
    threadId: 0,
    shape: info.shape,
    preview: info.count,
    ...(info.engine ? { engine: info.engine } : {}),
    ...(set.runId ? { runId: set.runId, checkpointId: set.checkpointId } : {}),
    replay: true,
  });
  for (let i = 0; i < steps; i++) {
    emit({
      type: 'job-step',
      jobId,
      i,
      steps,
      sigma: info.sigmas[i],
      sigmaNext: info.sigmas[i + 1],
      nfe: info.nfe[i],
      x: t.x.slice(i * size, (i + 1) * size),
      x0Pred: t.x0.slice(i * size, (i + 1) * size),
    });
    await yieldToEventLoop();
  }
  emit({
    type: 'job-done',
    jobId,
    nfe: info.totalNfe,
    ms: info.ms,
    sampleSetId: set.id,
    threadId: 0,
    x: t.x.slice(steps * size, (steps + 1) * size),
  });
}

/**
 * One sampling job's trajectory on its way to storage: created with the job, told its size when the worker starts,
 * fed every step, saved beside the job's samples when it is done. `save` returns the sample set's trajectory fields.
 */
export class JobTrajectory {
  #recorder: TrajectoryRecorder | undefined;
  #sigmas: number[] = [];

  constructor(
    private readonly samplesDir: string,
    private readonly jobId: string,
  ) {}

  /** `n` samples of `dim` values per step (as many as the budget allows are kept). */
  started(steps: number, n: number, dim: number, sigmas?: ArrayLike<number>): void {
    this.#recorder = new TrajectoryRecorder(steps, samplesKept(n, steps, dim), dim);
    if (sigmas) this.#sigmas = Array.from(sigmas);
  }

  step(i: number, x: Float32Array, x0: Float32Array, nfe: number, sigma?: number): void {
    if (!this.#recorder) throw new Error('a step arrived before the job started');
    this.#recorder.step(i, x, x0, nfe);
    if (sigma !== undefined) this.#sigmas[i] = sigma;
  }

  async save(
    final: Float32Array,
    meta: Pick<TrajectoryInfo, 'formulation' | 'shape' | 'engine' | 'totalNfe' | 'ms'> & { sigmas?: number[] },
  ): Promise<{ trajectoryPath: string; trajectory: JsonObject }> {
    const recorder = this.#recorder;
    if (!recorder) throw new Error('the job finished before it started');
    const { x, x0, nfe } = recorder.finish(final);
    const info: TrajectoryInfo = {
      version: 1,
      formulation: meta.formulation,
      shape: meta.shape,
      count: recorder.count,
      sigmas: meta.sigmas ?? this.#sigmas,
      nfe,
      totalNfe: meta.totalNfe,
      ms: meta.ms,
      engine: meta.engine,
    };
    if (info.sigmas.length !== recorder.steps + 1) {
      throw new Error(`the trajectory has ${info.sigmas.length} noise levels for ${recorder.steps} steps`);
    }
    const dir = trajectoryDir(this.samplesDir, this.jobId);
    await writeTrajectory(dir, { x, x0 }, info);
    return { trajectoryPath: dir, trajectory: info as unknown as JsonObject };
  }
}
