/**
 * The trajectory part of the API contract: sampling a trained or imported run's network in the sampler lab,
 * stored trajectories (analytic and run) that reopen later, and their exports (strip PNG, APNG / GIF animation).
 * contract.ts merges these calls into StudioCalls and CALL_NAMES; the service implements them in
 * src/service/model-sampling.ts, trajectories.ts and trajectory-exports.ts.
 */
import type { SamplerName } from '../core/samplers/index.ts';
import type { Spacing } from '../core/spacing.ts';
import type { ExportedFile } from '../service/exports.ts';
import type { JsonObject } from '../store/types.ts';
import type { JobHandle } from './contract.ts';

export type { ExportedFile };

/** Bounds of one sampleRun job: the samples drawn, the steps, and the samples whose x_t / x0 every step streams. */
export const RUN_SAMPLE_LIMITS = { maxSteps: 1000, maxSamples: 256, maxPreview: 64, defaultPreview: 16 } as const;

export interface RunSampleRequest {
  runId: string;
  /** A checkpoint id of the run; default: its newest one that loads. Imported models have none. */
  checkpointId?: string;
  /** Sample with the EMA weights (trained runs). */
  ema?: boolean;
  /** Default: tfjs for trained runs, onnx (onnxruntime) for imports. */
  engine?: 'tfjs' | 'onnx';
  sampler: SamplerName;
  /** Options of the chosen sampler, e.g. { eta: 0.5 }; keys it does not take are rejected. */
  samplerOptions?: Record<string, number | string | boolean>;
  /** 1..min(run's timesteps, RUN_SAMPLE_LIMITS.maxSteps). */
  steps: number;
  spacing?: Spacing;
  /** Samples drawn (all of them go to the sample set's .npy). */
  n: number;
  seed: number;
  /** Samples whose x_t and predicted x0 stream with every step and are stored as the trajectory. */
  preview?: number;
  /** Conditional runs: every sample of this class (default: classes in turn 0, 1, ...). */
  classLabel?: number;
  /** Conditional runs: classifier-free guidance scale, D = D_u + w (D_c - D_u); 1 = plain conditional. */
  guidance?: number;
}

/** A stored trajectory, as the lab lists it (the id is its sample set's). */
export interface TrajectorySummary {
  id: string;
  source: 'analytic' | 'run';
  /** A short human label: model, sampler, steps. */
  label: string;
  runId: string | null;
  checkpointId: string | null;
  /** What was sampled, as recorded on the sample set (mixture or run / checkpoint / ema). */
  model: JsonObject;
  sampler: string;
  options: JsonObject;
  steps: number;
  seed: number;
  /** Samples drawn. */
  n: number;
  /** Samples whose trajectory was kept. */
  count: number;
  /** One sample's shape: [H, W, C] for images, [D] for vectors and points. */
  shape: number[];
  formulation: 'vp' | 'sigma';
  /** The noise levels, steps + 1 of them. */
  sigmas: number[];
  engine: string | null;
  createdAt: number;
}

/** openTrajectory's answer: the trajectory's arrays follow as the events of job `jobId` (started, steps, done). */
export interface OpenedTrajectory {
  jobId: string;
  trajectory: TrajectorySummary;
}

export interface TrajectoryExportRequest {
  trajectoryId: string;
  /** A strip PNG (columns = steps, x_t above predicted x0) or an animation, one frame per step. */
  kind: 'strip' | 'animation';
  /** Animations only; default apng. */
  format?: 'apng' | 'gif';
  /** Image rows of a strip (default 4) or tiles of an animation (default 16). */
  samples?: number;
}

export interface TrajectoryCalls {
  sampleRun(request: RunSampleRequest): Promise<JobHandle>;
  /** Stored trajectories, newest first. */
  listTrajectories(): Promise<TrajectorySummary[]>;
  /** Streams a stored trajectory back as job events (job-started with replay: true, job-step..., job-done). */
  openTrajectory(id: string): Promise<OpenedTrajectory>;
  /** Writes the picture, with its provenance, into the exports folder. */
  exportTrajectory(request: TrajectoryExportRequest): Promise<ExportedFile>;
}

export const TRAJECTORY_CALL_NAMES = ['sampleRun', 'listTrajectories', 'openTrajectory', 'exportTrajectory'] as const;

/** Fields job-started carries for a run-sampling job or a replayed trajectory (all optional: analytic jobs lack them). */
export interface SampleJobStartedFields {
  /** One sample's shape: [H, W, C] for images, [D] for vectors (analytic mixtures: [dim]). */
  shape?: number[];
  /** Samples every job-step's x / x0Pred carry (the first ones of the batch); default n. */
  preview?: number;
  /** What computed it, e.g. tfjs-wasm or onnxruntime-cpu. */
  engine?: string;
  runId?: string;
  checkpointId?: string | null;
  /** Model calls are made in this many chunks of samples; steps after the first chunk arrive as job-progress. */
  chunks?: number;
  /** A stored trajectory played back by openTrajectory, not a computation. */
  replay?: boolean;
}

/** Progress of a run-sampling job past its first chunk (those steps carry no preview arrays). */
export interface JobProgressEvent {
  type: 'job-progress';
  jobId: string;
  /** Steps done over all chunks, of `total` (= steps x chunks). */
  done: number;
  total: number;
}
