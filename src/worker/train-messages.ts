/**
 * Messages between the service and train.worker.ts. Typed arrays (preview samples) are transferred, not copied.
 *
 * Storage: the training worker opens its own connection to the studio database and is the only writer of its run's
 * rows (status, progress, metrics, checkpoints) while it lives; the service writes them only before the worker
 * starts or after it has ended. SQLite's WAL serializes the two connections' transactions.
 */
import type { SerializedError } from '../api/contract.ts';
import type { Checkpoint } from '../store/types.ts';
import type { TrainProgress } from '../train/progress.ts';
import type { TrainOutcome } from '../train/trainer.ts';

export type ToTrainWorker =
  | { type: 'start'; runId: string; dbPath: string; runsDir: string; resume: boolean }
  | { type: 'pause' }
  | { type: 'resume' }
  | { type: 'stop' };

export type FromTrainWorker =
  | { type: 'started'; runId: string; threadId: number }
  | { type: 'log'; runId: string; line: string }
  | { type: 'progress'; progress: TrainProgress }
  | {
      type: 'preview';
      runId: string;
      step: number;
      samples: Float32Array;
      count: number;
      shape: number[];
      labels: Int32Array | null;
    }
  | { type: 'checkpoint'; runId: string; checkpoint: Checkpoint }
  | { type: 'paused'; runId: string }
  | { type: 'resumed'; runId: string }
  | { type: 'done'; outcome: TrainOutcome }
  | { type: 'error'; runId: string; error: SerializedError };
