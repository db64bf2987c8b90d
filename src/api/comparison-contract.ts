/**
 * The comparison part of the API contract (re-exported by contract.ts): samplers x step counts (optionally x eta or
 * x guidance) from one initial noise, run in a worker cell after cell, stored (a comparisons row plus .npy files) so
 * that a finished one reopens, re-runs and exports as a labeled grid PNG.
 */
import type { Formulation, GridSchedule } from '../core/noise-grid.ts';
import type { SamplerName } from '../core/samplers/index.ts';
import type { ComparisonStatus } from '../store/types.ts';
import type { ExportedFile } from '../service/exports.ts';

export type { ComparisonStatus, ExportedFile };

/** What the cells sample: an analytic mixture (cells get a true error) or a run's network. */
export type ComparisonSource =
  | {
      kind: 'mixture';
      /** A preset id ({ preset }) or an inline mixture. */
      mixture: { preset: string } | { weights: number[]; means: number[][]; stds: number[] };
      formulation: Formulation;
      schedule: GridSchedule;
      /** Discrete schedules: the model's timesteps (default 1000). */
      timesteps?: number;
    }
  | {
      kind: 'run';
      run: string;
      /** Default: the run's latest checkpoint. */
      checkpoint?: string;
      ema?: boolean;
      engine?: 'tfjs' | 'onnx';
      /** Conditional runs: every sample of this class (default: the classes in turn). */
      classLabel?: number;
    };

export interface ComparisonRequest {
  name?: string;
  source: ComparisonSource;
  samplers: SamplerName[];
  steps: number[];
  /** Third axis (samplers with an eta option only). */
  eta?: number[];
  /** Third axis (conditional runs only). */
  guidance?: number[];
  n: number;
  seed: number;
}

export interface ComparisonHandle {
  jobId: string;
  comparisonId: string;
}

export interface ComparisonCellInfo {
  /** Row-major position: rows (sampler x third axis) by columns (steps). */
  index: number;
  row: string;
  sampler: SamplerName;
  steps: number;
  eta: number | null;
  guidance: number | null;
  deterministic: boolean;
  nfe: number;
  ms: number;
  /** Analytic models: mean distance to the ODE solution (ode) or sliced Wasserstein-2 to exact samples (swd). */
  error: number | null;
  errorKind: 'ode' | 'swd' | null;
  swd: number | null;
}

export interface ComparisonSummary {
  id: string;
  name: string;
  status: ComparisonStatus;
  createdAt: number;
  /** 'mixture <preset>' or 'run <id>'. */
  source: string;
  samplers: string[];
  steps: number[];
  cellsDone: number;
  cellsTotal: number;
}

export interface ComparisonView {
  id: string;
  name: string;
  status: ComparisonStatus;
  request: ComparisonRequest;
  rows: string[];
  steps: number[];
  /** One sample's shape: [2] (points) or [H, W, C] (images). */
  shape: number[];
  n: number;
  seed: number;
  cellsTotal: number;
  /** Finished cells (all of them once completed; a cancelled one keeps those it finished). */
  cells: (ComparisonCellInfo & { samples: number[] })[];
  /** Samples per cell in `samples` (the first ones of the cell; see COMPARISON_SHOWN). */
  shown: number;
  /** Analytic models: the reference solve and its own distance to the exact samples (the floor set by n). */
  reference: { sampler: string; steps: number; nfe: number; swd: number } | null;
  error: string | null;
}

/** A cell's stored trajectory: the first `count` samples at every step. */
export interface ComparisonTrajectory {
  comparisonId: string;
  cell: number;
  shape: number[];
  count: number;
  /** steps + 1 noise levels; the last is 0 (the final samples). */
  sigmas: number[];
  /** (steps + 1) x count x dim: x at each sigma, the last row the final samples. */
  x: number[];
  /** steps x count x dim: the model's predicted x0 at each step. */
  x0: number[];
}

export interface ComparisonExportRequest {
  id: string;
  /** Largest width or height of one PNG; a bigger grid is written as numbered tiles. Default 8192. */
  maxSide?: number;
}

export interface ComparisonExport {
  /** The PNG (or its tiles, in order) and the sidecar JSON, last. */
  files: ExportedFile[];
  tiles: number;
}

/** Samples shown per cell: all points of a 2-D model up to 2048, the first 16 images. */
export const COMPARISON_SHOWN = { points: 2048, images: 16 } as const;

export interface ComparisonCalls {
  /** Validates (ValidationError naming the field) and starts the cells in a worker; returns at once. */
  startComparison(request: ComparisonRequest): Promise<ComparisonHandle>;
  /** Newest first. */
  listComparisons(): Promise<ComparisonSummary[]>;
  openComparison(id: string): Promise<ComparisonView>;
  comparisonTrajectory(request: { id: string; cell: number }): Promise<ComparisonTrajectory>;
  /** A new comparison with the same request (same seed, so the same cells). */
  rerunComparison(id: string): Promise<ComparisonHandle>;
  exportComparisonGrid(request: ComparisonExportRequest): Promise<ComparisonExport>;
}

export const COMPARISON_CALL_NAMES = [
  'startComparison',
  'listComparisons',
  'openComparison',
  'comparisonTrajectory',
  'rerunComparison',
  'exportComparisonGrid',
] as const;

export interface ComparisonStartedEvent {
  type: 'comparison-started';
  jobId: string;
  comparisonId: string;
  rows: string[];
  steps: number[];
  shape: number[];
  n: number;
  shown: number;
  cellsTotal: number;
  threadId: number;
}

/** Progress inside a cell (throttled); cell -1 is the reference solve of an analytic model. */
export interface ComparisonStepEvent {
  type: 'comparison-step';
  jobId: string;
  comparisonId: string;
  cell: number;
  i: number;
  steps: number;
}

export interface ComparisonCellEvent {
  type: 'comparison-cell';
  jobId: string;
  comparisonId: string;
  cell: ComparisonCellInfo;
  /** The cell's first `shown` samples. */
  samples: Float32Array;
}

export interface ComparisonDoneEvent {
  type: 'comparison-done';
  jobId: string;
  comparisonId: string;
  ms: number;
  reference: ComparisonView['reference'];
}

export interface ComparisonCancelledEvent {
  type: 'comparison-cancelled';
  jobId: string;
  comparisonId: string;
  cellsDone: number;
}

export interface ComparisonErrorEvent {
  type: 'comparison-error';
  jobId: string;
  comparisonId: string;
  error: { name: string; message: string };
}

export type ComparisonEvent =
  | ComparisonStartedEvent
  | ComparisonStepEvent
  | ComparisonCellEvent
  | ComparisonDoneEvent
  | ComparisonCancelledEvent
  | ComparisonErrorEvent;
