/**
 * The one API contract between the renderer and whichever host serves it (Electron main over IPC, or the Node
 * server over HTTP + WebSocket). Both hosts expose the same service (src/service), so the renderer never knows which
 * one it talks to.
 *
 * Rules every transport follows:
 * - A call takes at most one argument, a plain JSON-safe value, and resolves to a JSON-safe value.
 * - A failed call rejects with an Error rebuilt from a SerializedError (name, message, stack?), never a bare string.
 * - Events may carry typed arrays; transports pass them by structured clone (IPC) or as raw little-endian binary
 *   (WebSocket, see event-codec.ts), never as JSON number arrays.
 */
import type { GaussianMixture } from '../core/gmm.ts';
import type { Formulation, GridSchedule } from '../core/noise-grid.ts';
import type { SamplerName } from '../core/samplers/index.ts';
import type { Spacing } from '../core/spacing.ts';
import type { Checkpoint, MetricPoint, Run, RunStatus, RunSummary, SampleSet } from '../store/types.ts';
import type { TrainConfig } from '../train/config.ts';
import type { TrainProgress } from '../train/progress.ts';
import { RUN_ADMIN_CALL_NAMES, type RunAdminCalls } from './run-admin-contract.ts';
import { COMPARISON_CALL_NAMES, type ComparisonCalls, type ComparisonEvent } from './comparison-contract.ts';
import {
  TRAJECTORY_CALL_NAMES,
  type JobProgressEvent,
  type SampleJobStartedFields,
  type TrajectoryCalls,
} from './trajectory-contract.ts';

export type * from './run-admin-contract.ts';
export * from './comparison-contract.ts';
export * from './trajectory-contract.ts';

export type {
  Checkpoint,
  Formulation,
  GaussianMixture,
  GridSchedule,
  MetricPoint,
  Run,
  RunStatus,
  RunSummary,
  SampleSet,
  SamplerName,
  Spacing,
  TrainConfig,
  TrainProgress,
};

/** An error as it crosses a process, thread or network boundary. */
export interface SerializedError {
  name: string;
  message: string;
  stack?: string;
}

/** How every transport wraps a call's outcome, so a failure keeps its name instead of becoming a string. */
export type CallResult<T> = { ok: true; value: T } | { ok: false; error: SerializedError };

export type Host = 'electron' | 'server';

export type SamplerOptionValue = number | string | boolean;

export interface SamplerInfo {
  name: SamplerName;
  label: string;
  description: string;
  /** Draws fresh noise every step (ancestral / SDE samplers, DDIM with eta > 0). */
  stochastic: boolean;
  /** Its options and their defaults, e.g. { eta: 1 } or { order: 3 }. */
  defaults: Record<string, SamplerOptionValue>;
}

export interface ScheduleInfo {
  name: GridSchedule;
  label: string;
  /** Formulations the schedule can drive. */
  formulations: Formulation[];
}

export interface MixturePreset {
  id: string;
  label: string;
  description: string;
  mixture: GaussianMixture;
}

export interface AppInfo {
  name: string;
  version: string;
  host: Host;
  /** What runs the computation, for the header: runtime versions and the worker pool size. */
  engine: {
    runtime: string;
    electron?: string;
    platform: string;
    arch: string;
    workers: number;
  };
  dataDir: string;
  samplers: SamplerInfo[];
  schedules: ScheduleInfo[];
  mixturePresets: MixturePreset[];
  limits: { maxSteps: number; maxSamples: number };
}

/** A mixture given inline, or one of info().mixturePresets by id. */
export type MixtureSpec = { preset: string } | GaussianMixture;

export interface AnalyticSampleRequest {
  mixture: MixtureSpec;
  formulation: Formulation;
  /** vp: a discrete beta schedule (linear, cosine, ...) or karras over the model's range; sigma: usually karras. */
  schedule: GridSchedule;
  steps: number;
  sampler: SamplerName;
  /** Options of the chosen sampler, e.g. { eta: 0.5 }; keys it does not take are rejected. */
  samplerOptions?: Record<string, SamplerOptionValue>;
  seed: number;
  n: number;
  /** Discrete schedules only. */
  spacing?: Spacing;
  /** karras only (sigma formulation defaults: 0.002 and 80; vp: the model's own range). */
  sigmaMin?: number;
  sigmaMax?: number;
}

export interface JobHandle {
  jobId: string;
}

/**
 * A training config as the caller writes it: `data` plus any TrainConfig field; the rest take their defaults
 * (resolveTrainConfig in src/train/config.ts, whose messages name the field at fault).
 */
export type TrainConfigInput = { data: TrainConfig['data'] } & Partial<Omit<TrainConfig, 'data'>>;

/** A run as the run detail view needs it: the row, its resolved config and its checkpoints (newest last). */
export interface RunDetail {
  run: Run;
  config: TrainConfig | null;
  checkpoints: Checkpoint[];
  /** A worker is training it in this host right now. */
  live: boolean;
}

export interface RunMetricsRequest {
  runId: string;
  /** Metric names, e.g. 'loss', 'lr', 'grad_norm', 'images_per_sec', 'loss_t0'..'loss_t9'. */
  names: string[];
  /** Only points with step > sinceStep. */
  sinceStep?: number;
}

/** Points per requested name, in step order. */
export type RunMetrics = Record<string, MetricPoint[]>;

/** Request/response calls. Each takes zero or one JSON argument. */
export interface StudioCalls extends RunAdminCalls, ComparisonCalls, TrajectoryCalls {
  info(): Promise<AppInfo>;
  sampleAnalytic(request: AnalyticSampleRequest): Promise<JobHandle>;
  /** Resolves false when the job is unknown or already finished. */
  cancelJob(jobId: string): Promise<boolean>;
  listRuns(): Promise<RunSummary[]>;
  listSampleSets(): Promise<SampleSet[]>;
  /** Validates the config (ValidationError with resolveTrainConfig's message) and records a new run, not started. */
  createTrainingRun(config: TrainConfigInput): Promise<Run>;
  /** Trains a run in a worker: from scratch if it has no checkpoint, else from its latest good one. */
  startTraining(runId: string): Promise<Run>;
  /** Each resolves false when the run has no live worker. */
  pauseTraining(runId: string): Promise<boolean>;
  resumeTraining(runId: string): Promise<boolean>;
  /** Stops after the current step, writing a checkpoint first (the run stays resumable). */
  stopTraining(runId: string): Promise<boolean>;
  getRun(runId: string): Promise<RunDetail>;
  runMetrics(request: RunMetricsRequest): Promise<RunMetrics>;
}

export type CallName = keyof StudioCalls;
export type CallArg<K extends CallName> = Parameters<StudioCalls[K]> extends [infer A] ? A : undefined;
export type CallReturn<K extends CallName> = Awaited<ReturnType<StudioCalls[K]>>;

/** Every call, in one list: hosts generate their handlers from it, clients their stubs. */
export const CALL_NAMES = [
  'info',
  'sampleAnalytic',
  'cancelJob',
  'listRuns',
  'listSampleSets',
  'createTrainingRun',
  'startTraining',
  'pauseTraining',
  'resumeTraining',
  'stopTraining',
  'getRun',
  'runMetrics',
  ...RUN_ADMIN_CALL_NAMES,
  ...COMPARISON_CALL_NAMES,
  ...TRAJECTORY_CALL_NAMES,
] as const;

// Compile-time check that CALL_NAMES lists exactly the keys of StudioCalls.
type Missing = Exclude<CallName, (typeof CALL_NAMES)[number]>;
const everyCallListed: Missing extends never ? true : Missing = true;
void everyCallListed;

export function isCallName(name: string): name is CallName {
  return (CALL_NAMES as readonly string[]).includes(name);
}

export interface JobStartedEvent extends SampleJobStartedFields {
  type: 'job-started';
  jobId: string;
  /** sample-run: a run's network (x / x0Pred of job-step hold the first `preview` samples, images HWC). */
  kind: 'sample-analytic' | 'sample-run';
  steps: number;
  n: number;
  dim: number;
  /** Noise levels the sampler visits, length steps + 1, ending in 0. */
  sigmas: Float64Array;
  formulation: Formulation;
  /** Id of the worker thread running the job (never the host's main thread, 0). */
  threadId: number;
}

export interface JobStepEvent {
  type: 'job-step';
  jobId: string;
  /** 0-based step index; x is the batch at sigma, before this step's update. */
  i: number;
  steps: number;
  sigma: number;
  sigmaNext: number;
  /** Model evaluations so far. */
  nfe: number;
  /** n * dim values in sigma space (x = x0 + sigma * eps). */
  x: Float32Array;
  x0Pred: Float32Array;
}

export interface JobDoneEvent {
  type: 'job-done';
  jobId: string;
  nfe: number;
  ms: number;
  sampleSetId: string;
  threadId: number;
  /** Final samples (sigma = 0), n * dim values (sample-run: the first `preview` samples). */
  x: Float32Array;
}

export interface JobCancelledEvent {
  type: 'job-cancelled';
  jobId: string;
  /** Steps completed before the job stopped. */
  completedSteps: number;
}

export interface JobErrorEvent {
  type: 'job-error';
  jobId: string;
  error: SerializedError;
}

export type JobEvent =
  JobStartedEvent | JobStepEvent | JobProgressEvent | JobDoneEvent | JobCancelledEvent | JobErrorEvent;

/** Throttled progress of a training run (about two a second). */
export interface TrainProgressEvent {
  type: 'train-progress';
  runId: string;
  progress: TrainProgress;
}

/** Preview samples from fixed noise (EMA weights): images HWC in [-1, 1], or 2-D points for toy runs. */
export interface TrainPreviewEvent {
  type: 'train-preview';
  runId: string;
  step: number;
  /** count * prod(shape) values. */
  samples: Float32Array;
  count: number;
  /** One sample's shape: [H, W, C] for images, [2] for toy points. */
  shape: number[];
  labels: Int32Array | null;
}

export interface TrainCheckpointEvent {
  type: 'train-checkpoint';
  runId: string;
  checkpoint: Checkpoint;
}

/** What the UI shows for a training run (the store's 'cancelled' reads as 'stopped'). */
export type TrainState = 'created' | 'running' | 'paused' | 'stopped' | 'completed' | 'failed' | 'interrupted';

export interface TrainStateEvent {
  type: 'train-state';
  runId: string;
  state: TrainState;
  step?: number;
  error?: string;
}

export interface TrainLogEvent {
  type: 'train-log';
  runId: string;
  line: string;
}

export type TrainEvent =
  TrainProgressEvent | TrainPreviewEvent | TrainCheckpointEvent | TrainStateEvent | TrainLogEvent;

export type StudioEvent = JobEvent | TrainEvent | ComparisonEvent;
export type StudioEventType = StudioEvent['type'];

export type EventListener = (event: StudioEvent) => void;

export function isTrainEvent(event: StudioEvent): event is TrainEvent {
  return event.type.startsWith('train-');
}

/** What the renderer holds: the calls plus a subscription to every event. Returns an unsubscribe function. */
export interface StudioApi extends StudioCalls {
  onEvent(listener: EventListener): () => void;
}

/**
 * What a host hands the renderer: one generic, typed call plus the event subscription. Failures come back as
 * envelopes rather than thrown errors because Electron's contextBridge drops an Error's name; the renderer turns a
 * transport into a StudioApi (and envelopes back into named errors) in one place.
 */
export interface StudioTransport {
  call<K extends CallName>(name: K, arg: CallArg<K>): Promise<CallResult<CallReturn<K>>>;
  onEvent(listener: EventListener): () => void;
}

/** Channel names shared by Electron main and preload. */
export const IPC = {
  call: (name: CallName) => `studio:call:${name}`,
  event: 'studio:event',
} as const;

/** Paths of the web transport. */
export const HTTP = {
  call: (name: CallName) => `/api/${name}`,
  events: '/events',
} as const;
