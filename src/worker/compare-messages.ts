/**
 * Messages between the service and compare.worker.ts, as discriminated unions: the only shapes that cross this
 * thread boundary. Typed arrays in them are transferred, never copied. The worker never writes the database: it
 * writes the cells' .npy files into its folder and reports each cell; the service keeps the comparisons row.
 */
import type { SerializedError } from '../api/contract.ts';
import type { AnalyticGridSpec } from '../compare/analytic-source.ts';
import type { CellResult, ComparisonSpec } from '../compare/comparison.ts';
import type { RunProvenance } from '../compare/provenance.ts';
import type { GaussianMixture } from '../core/gmm.ts';
import type { JsonObject } from '../store/types.ts';

export type CompareWorkerSource =
  | { kind: 'mixture'; mixture: GaussianMixture; grid: AnalyticGridSpec; label: string }
  | {
      kind: 'run';
      run: string;
      checkpoint?: string;
      ema?: boolean;
      engine?: 'tfjs' | 'onnx';
      classLabel?: number;
      dbPath: string;
      runsDir: string;
      /** Most samples per model call (guidance doubles a call, so chunks hold half as many). */
      maxModelBatch: number;
    };

export interface CompareStart {
  type: 'start';
  jobId: string;
  comparisonId: string;
  spec: ComparisonSpec;
  source: CompareWorkerSource;
  /** The comparison's own folder: cell samples, trajectories, reference. */
  dir: string;
  /** Samples per cell sent back for display. */
  shown: number;
  /** Values (steps x samples x dim) a cell's stored trajectory may hold; at least one sample is kept. */
  trajectoryValues: number;
  /** Most samples a trajectory keeps. */
  trajectoryMaxSamples: number;
}

export type ToCompareWorker = CompareStart | { type: 'cancel' };

/** Files of one cell's trajectory, relative to the comparison folder. */
export interface TrajectoryFiles {
  /** (steps + 1) x count x shape: x at each sigma, the final samples last. */
  x: string;
  /** steps x count x shape. */
  x0: string;
  /** steps + 1 float64 noise levels, ending in 0. */
  sigmas: string;
  count: number;
}

export type FromCompareWorker =
  | {
      type: 'started';
      threadId: number;
      shape: number[];
      rows: string[];
      steps: number[];
      cellsTotal: number;
      model: JsonObject;
      run: RunProvenance | null;
    }
  /** Progress (throttled): step `cellStep` of `steps` in cell `cell` (-1: the reference solve); i counts every step. */
  | { type: 'step'; i: number; cell: number; cellStep: number; steps: number }
  | { type: 'cell'; index: number; cell: CellResult; samples: Float32Array; trajectory: TrajectoryFiles }
  | { type: 'done'; ms: number; result: JsonObject }
  | { type: 'cancelled'; completedSteps: number }
  | { type: 'error'; error: SerializedError };
