/**
 * What the training loop (trainer.ts) needs from an engine: one optimizer step on a prepared batch, the EMA update,
 * and its state in canonical (PyTorch) layout for checkpoints. Everything random, the data order and the learning
 * rate stay in the loop, so both engines see the same batches and the same exact-resume guarantees hold for each.
 */
import type { TrainBatch } from '../../engines/onnx/train-step.ts';

export type { TrainBatch };

export interface StepOutcome {
  loss: number;
  /** Per-sample losses, for the per-timestep buckets. */
  perSample: Float32Array;
  /** Global gradient norm before clipping. */
  gradNorm: number;
  /** False when the loss or gradient norm was not finite: nothing was updated. */
  applied: boolean;
}

export interface OptimizerSnapshot {
  step: number;
  m: Map<string, Float32Array>;
  v: Map<string, Float32Array>;
}

export interface TrainEngine {
  /** Recorded in the run and shown in the UI, e.g. 'tfjs-wasm', 'onnx-cpu'. */
  readonly name: string;
  /** What the checkpoint's backend field holds (resume warns when it changes: bit-exact only on the same one). */
  readonly backend: string;
  /** Library versions for the checkpoint header. */
  readonly versions: Record<string, string>;
  step(batch: TrainBatch, lr: number, dropoutSeed: number): Promise<StepOutcome>;
  /** One EMA update from the current weights. */
  updateEma(): void;
  /** Copies, canonical layout. */
  params(): Map<string, Float32Array>;
  ema(): Map<string, Float32Array>;
  optimizerState(): OptimizerSnapshot;
  dispose(): Promise<void>;
}
