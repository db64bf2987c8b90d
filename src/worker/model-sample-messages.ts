/**
 * Messages between the service and model-sample.worker.ts (sampling a trained or imported run's network). Typed
 * arrays in them are transferred, never copied. Step events carry at most `previewSamples` samples of the first
 * chunk, so a big job's messages stay small.
 */
import type { SerializedError } from '../api/contract.ts';
import type { Spacing } from '../core/spacing.ts';

export interface RunSampleRequest {
  run: string;
  checkpoint?: string;
  ema?: boolean;
  /** Default: onnx (imports run on onnx only). */
  engine?: 'tfjs' | 'onnx';
  sampler: string;
  samplerOptions?: Record<string, number | string | boolean>;
  steps: number;
  spacing?: Spacing;
  n: number;
  seed: number;
  /** Conditional runs: every sample of this class (default: classes in turn). */
  classLabel?: number;
  guidance?: number;
}

export interface ModelSampleStart {
  type: 'start';
  jobId: string;
  dbPath: string;
  runsDir: string;
  request: RunSampleRequest;
  outPath: string;
  /** Most samples per model call (guidance doubles a chunk, so chunks hold half as many). */
  maxModelBatch: number;
  /** Samples whose x / x0Pred ride along with each step event. */
  previewSamples: number;
  /** onnxruntime cpu threads (default: its own). */
  intraOpThreads?: number;
}

export type ToModelSampleWorker = ModelSampleStart | { type: 'cancel' };

export type FromModelSampleWorker =
  | {
      type: 'started';
      threadId: number;
      engine: string;
      steps: number;
      n: number;
      shape: number[];
      chunks: number;
      sigmas: Float64Array;
      /** The checkpoint being sampled (null for imports). */
      checkpointId?: string | null;
    }
  | {
      type: 'step';
      /** Steps done over all chunks (chunk * steps + i). */
      i: number;
      chunk: number;
      steps: number;
      sigma: number;
      sigmaNext: number;
      nfe: number;
      /** The first previewSamples samples (NHWC or vectors); absent after the first chunk. */
      x?: Float32Array;
      x0Pred?: Float32Array;
    }
  | {
      type: 'done';
      threadId: number;
      nfe: number;
      ms: number;
      path: string;
      checkpointId: string | null;
      /** The first previewSamples final samples (images clipped to [-1, 1]), as the last step's preview. */
      x?: Float32Array;
    }
  | { type: 'cancelled'; completedSteps: number }
  | { type: 'error'; error: SerializedError };
