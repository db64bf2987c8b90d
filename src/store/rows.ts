/** SQL row shapes (snake_case, as SQLite returns them) and their conversion to the API types in types.ts. */
import { parseJson, parseJsonObject } from './json.ts';
import type {
  Checkpoint,
  Comparison,
  ComparisonStatus,
  Run,
  RunKind,
  RunStatus,
  RunSummary,
  SampleSet,
} from './types.ts';

export interface RunRow {
  id: string;
  name: string;
  kind: RunKind;
  status: RunStatus;
  config_json: string;
  dataset: string | null;
  preset: string | null;
  engine: string | null;
  created_at: number;
  updated_at: number;
  last_step: number;
  last_loss: number | null;
  error: string | null;
  parent_run_id: string | null;
  parent_checkpoint_id: string | null;
  notes: string;
  pinned: number;
}

export interface CheckpointRow {
  id: string;
  run_id: string;
  step: number;
  path: string;
  sha256: string;
  bytes: number;
  pinned: number;
  created_at: number;
  metrics_json: string | null;
}

export interface SampleSetRow {
  id: string;
  run_id: string | null;
  checkpoint_id: string | null;
  model_json: string;
  sampler: string;
  steps: number;
  options_json: string;
  seed: number;
  n: number;
  path: string;
  created_at: number;
  trajectory_path: string | null;
  trajectory_json: string | null;
}

export interface ComparisonRow {
  id: string;
  name: string;
  spec_json: string;
  status: ComparisonStatus;
  result_json: string | null;
  created_at: number;
  updated_at: number;
}

export function toRun(r: RunRow): Run {
  return {
    id: r.id,
    name: r.name,
    kind: r.kind,
    status: r.status,
    config: parseJsonObject(r.config_json, `runs.config_json of run ${r.id}`),
    dataset: r.dataset,
    preset: r.preset,
    engine: r.engine,
    createdAt: r.created_at,
    updatedAt: r.updated_at,
    lastStep: r.last_step,
    lastLoss: r.last_loss,
    error: r.error,
    parentRunId: r.parent_run_id,
    parentCheckpointId: r.parent_checkpoint_id,
    notes: r.notes,
    pinned: r.pinned === 1,
  };
}

export function toRunSummary(r: RunRow & { checkpoint_count: number }): RunSummary {
  return { ...toRun(r), checkpointCount: r.checkpoint_count };
}

export function toCheckpoint(r: CheckpointRow): Checkpoint {
  return {
    id: r.id,
    runId: r.run_id,
    step: r.step,
    path: r.path,
    sha256: r.sha256,
    bytes: r.bytes,
    pinned: r.pinned === 1,
    createdAt: r.created_at,
    metrics: r.metrics_json === null ? null : parseJsonObject(r.metrics_json, `checkpoints.metrics_json of ${r.id}`),
  };
}

export function toSampleSet(r: SampleSetRow): SampleSet {
  return {
    id: r.id,
    runId: r.run_id,
    checkpointId: r.checkpoint_id,
    model: parseJsonObject(r.model_json, `sample_sets.model_json of ${r.id}`),
    sampler: r.sampler,
    steps: r.steps,
    options: parseJsonObject(r.options_json, `sample_sets.options_json of ${r.id}`),
    seed: r.seed,
    n: r.n,
    path: r.path,
    createdAt: r.created_at,
    trajectoryPath: r.trajectory_path,
    trajectory:
      r.trajectory_json === null ? null : parseJsonObject(r.trajectory_json, `sample_sets.trajectory_json of ${r.id}`),
  };
}

export function toComparison(r: ComparisonRow): Comparison {
  return {
    id: r.id,
    name: r.name,
    spec: parseJsonObject(r.spec_json, `comparisons.spec_json of ${r.id}`),
    status: r.status,
    result: r.result_json === null ? null : parseJson(r.result_json, `comparisons.result_json of ${r.id}`),
    createdAt: r.created_at,
    updatedAt: r.updated_at,
  };
}
