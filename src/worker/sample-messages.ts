/**
 * Messages between the service and sample.worker.ts, as discriminated unions: the only shapes that may cross this
 * thread boundary. Typed arrays in them are transferred (moved), never copied.
 */
import type { AnalyticSampleRequest, SerializedError } from '../api/contract.ts';
import type { GaussianMixture } from '../core/gmm.ts';

/** A request whose mixture the service has already resolved (presets live on the service side). */
export interface ResolvedAnalyticRequest extends Omit<AnalyticSampleRequest, 'mixture'> {
  mixture: GaussianMixture;
}

export type ToSampleWorker =
  { type: 'start'; jobId: string; request: ResolvedAnalyticRequest; outPath: string } | { type: 'cancel' };

export type FromSampleWorker =
  | { type: 'started'; threadId: number; steps: number; n: number; dim: number; sigmas: Float64Array }
  | {
      type: 'step';
      i: number;
      steps: number;
      sigma: number;
      sigmaNext: number;
      nfe: number;
      x: Float32Array;
      x0Pred: Float32Array;
    }
  | { type: 'done'; threadId: number; nfe: number; ms: number; x: Float32Array; path: string }
  | { type: 'cancelled'; completedSteps: number }
  | { type: 'error'; error: SerializedError };
