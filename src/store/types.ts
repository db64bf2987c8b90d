/**
 * Row types of the store, as the rest of the app sees them: camelCase, parsed JSON, booleans, epoch milliseconds.
 * The SQL side is snake_case; rows.ts converts between the two at the boundary.
 *
 * Times are epoch milliseconds (INTEGER) everywhere: sortable, compact, and free of time-zone parsing.
 */

export const RUN_KINDS = ['train', 'analytic', 'import'] as const;
export type RunKind = (typeof RUN_KINDS)[number];

export const RUN_STATUSES = [
  'created',
  'running',
  'paused',
  'completed',
  'failed',
  'interrupted',
  'cancelled',
] as const;
export type RunStatus = (typeof RUN_STATUSES)[number];

export const COMPARISON_STATUSES = ['created', 'running', 'completed', 'failed', 'interrupted', 'cancelled'] as const;
export type ComparisonStatus = (typeof COMPARISON_STATUSES)[number];

/** A JSON object as stored in a *_json column (parsed and checked at the boundary). */
export type JsonObject = { [key: string]: JsonValue };
export type JsonValue = null | boolean | number | string | JsonValue[] | JsonObject;

export interface Run {
  id: string;
  name: string;
  kind: RunKind;
  status: RunStatus;
  config: JsonObject;
  dataset: string | null;
  preset: string | null;
  /** Engine/backend that trains or evaluates it, e.g. 'tfjs-wasm' or 'onnxruntime-cpu'. */
  engine: string | null;
  createdAt: number;
  updatedAt: number;
  lastStep: number;
  /** Latest training loss; null before the first one (and for a NaN loss, which SQLite cannot store). */
  lastLoss: number | null;
  error: string | null;
  /** Fork provenance: the run and checkpoint this run was started from. */
  parentRunId: string | null;
  parentCheckpointId: string | null;
  /** Free-form user notes (schema 2). */
  notes: string;
  /** Pinned runs stay at the top of the run list (schema 2). */
  pinned: boolean;
}

export interface RunSummary extends Run {
  checkpointCount: number;
}

export interface NewRun {
  /** Generated when omitted. */
  id?: string;
  name: string;
  kind: RunKind;
  config: JsonObject;
  status?: RunStatus;
  dataset?: string | null;
  preset?: string | null;
  engine?: string | null;
  parentRunId?: string | null;
  parentCheckpointId?: string | null;
  notes?: string;
}

export interface Checkpoint {
  id: string;
  runId: string;
  step: number;
  /** The weights file (safetensors). Weights never live in the database. */
  path: string;
  sha256: string;
  bytes: number;
  pinned: boolean;
  createdAt: number;
  metrics: JsonObject | null;
}

export interface NewCheckpoint {
  id?: string;
  runId: string;
  step: number;
  path: string;
  sha256: string;
  bytes: number;
  pinned?: boolean;
  metrics?: JsonObject | null;
}

export interface MetricRow {
  runId: string;
  step: number;
  name: string;
  /** NaN is allowed (a diverged loss); it is stored as NULL and read back as NaN. */
  value: number;
  /** Epoch ms; defaults to the time of the append. */
  wallTime?: number;
}

export interface MetricPoint {
  step: number;
  value: number;
  wallTime: number;
}

export interface SampleSet {
  id: string;
  /** Null for analytic models, which have no run. */
  runId: string | null;
  checkpointId: string | null;
  /** What was sampled: a run/checkpoint reference or an analytic mixture spec. */
  model: JsonObject;
  sampler: string;
  steps: number;
  options: JsonObject;
  seed: number;
  n: number;
  /** The arrays file (.npy or similar). Arrays never live in the database. */
  path: string;
  createdAt: number;
  /** Folder of the stored denoising trajectory's arrays (schema 3); null when none was kept. */
  trajectoryPath: string | null;
  /** What reading the trajectory needs (noise levels, shape, samples kept...); null when none was kept. */
  trajectory: JsonObject | null;
}

export interface NewSampleSet {
  id?: string;
  runId?: string | null;
  checkpointId?: string | null;
  model: JsonObject;
  sampler: string;
  steps: number;
  options?: JsonObject;
  seed: number;
  n: number;
  path: string;
  trajectoryPath?: string | null;
  trajectory?: JsonObject | null;
}

export interface Comparison {
  id: string;
  name: string;
  /** Samplers x step counts and the rest of the grid. */
  spec: JsonObject;
  status: ComparisonStatus;
  result: JsonValue | null;
  createdAt: number;
  updatedAt: number;
}

export interface NewComparison {
  id?: string;
  name: string;
  spec: JsonObject;
  status?: ComparisonStatus;
}

export interface ComparisonUpdate {
  name?: string;
  status?: ComparisonStatus;
  result?: JsonValue | null;
}

/** Files a deleted run left behind, for the caller to remove (the store never touches weight or array files). */
export interface DeletedRun {
  checkpointPaths: string[];
  sampleSetPaths: string[];
  /** Folders of the sample sets' stored trajectories. */
  trajectoryPaths: string[];
}
