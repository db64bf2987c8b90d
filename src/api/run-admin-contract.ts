/**
 * The run-management part of the API contract (rename, delete, checkpoints, fork, the preview film strip).
 * contract.ts merges these calls into StudioCalls and CALL_NAMES; the service implements them in
 * src/service/run-admin.ts.
 */
import type { Checkpoint, Run } from '../store/types.ts';
import type { ForkOverrides } from '../train/fork-config.ts';

export type { ForkOverrides };

export interface RenameRunRequest {
  runId: string;
  /** 1..200 characters after trimming. */
  name: string;
}

export interface DeletedRunInfo {
  runId: string;
  /** Files removed: checkpoints, previews, sample sets. */
  filesRemoved: number;
}

export interface DeletedCheckpointInfo {
  checkpoint: Checkpoint;
  /** The run as it is now (rolled back to its new latest checkpoint when the newest one was deleted). */
  run: Run;
  /** What changed for the run, in words, or null when nothing but the file and row went. */
  note: string | null;
}

export interface ForkRunRequest {
  /** The parent run. */
  runId: string;
  /** Defaults to the parent's latest checkpoint. */
  checkpointId?: string;
  /** Defaults to "<parent name> (fork @ <step>)". */
  name?: string;
  /** Optimizer and bookkeeping settings to change; the rest stays the parent's. */
  overrides?: ForkOverrides;
}

export interface ListPreviewsRequest {
  runId: string;
  /** At most this many, spread evenly over training (first and last kept); default 24, at most 200. */
  max?: number;
}

/** A preview stored at a checkpoint: the same fixed noise every time, so the strip shows what the model learned. */
export interface RunPreview {
  step: number;
  count: number;
  /** One sample's shape: [H, W, C] for images, [2] for toy points. */
  shape: number[];
  /** count * prod(shape) float32 values, little-endian, base64 (a call's reply is JSON). */
  samplesBase64: string;
}

export interface RunAdminCalls {
  renameRun(request: RenameRunRequest): Promise<Run>;
  /** Refuses a run that is training; removes its rows, checkpoint files, previews and sample-set files. */
  deleteRun(runId: string): Promise<DeletedRunInfo>;
  pinCheckpoint(checkpointId: string): Promise<Checkpoint>;
  unpinCheckpoint(checkpointId: string): Promise<Checkpoint>;
  /**
   * Refuses while the run trains, a pinned checkpoint, a fork origin, and a run's only checkpoint. Deleting the
   * newest one rolls the run back to the one before (a completed run becomes stopped, so it can resume).
   */
  deleteCheckpoint(checkpointId: string): Promise<DeletedCheckpointInfo>;
  /** A new run (not started) whose starting point is a copy of the checkpoint. */
  forkRun(request: ForkRunRequest): Promise<Run>;
  listPreviews(request: ListPreviewsRequest): Promise<RunPreview[]>;
}

export const RUN_ADMIN_CALL_NAMES = [
  'renameRun',
  'deleteRun',
  'pinCheckpoint',
  'unpinCheckpoint',
  'deleteCheckpoint',
  'forkRun',
  'listPreviews',
] as const satisfies readonly (keyof RunAdminCalls)[];
