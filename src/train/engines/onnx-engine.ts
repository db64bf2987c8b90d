/**
 * The ONNX training engine: the whole step (forward, loss, backward, clipping, Adam/AdamW) is one ONNX graph
 * (engines/onnx/train-graph.ts) run by onnxruntime on the best execution provider it has; the EMA is a float32
 * loop here (one multiply-add per weight, cheap next to the step).
 */
import * as ort from 'onnxruntime-node';
import type { TrainingState } from '../../checkpoint/state.ts';
import type { DiscreteSchedule } from '../../core/schedules.ts';
import type { OnnxProvider } from '../../engines/onnx/session.ts';
import { OnnxTrainStep } from '../../engines/onnx/train-step.ts';
import type { ModelIR } from '../../model/ir.ts';
import type { TrainConfig } from '../config.ts';
import { emaDecay } from '../ema.ts';
import type { OptimizerSnapshot, StepOutcome, TrainBatch, TrainEngine } from './engine.ts';

export class OnnxTrainEngine implements TrainEngine {
  readonly name: string;
  readonly backend: string;
  readonly versions = { onnxruntime: ort.env.versions.node ?? 'unknown' };
  private readonly shadows: Float32Array[];
  private emaUpdates = 0;

  private constructor(
    private readonly ir: ModelIR,
    private readonly config: TrainConfig,
    private readonly trainer: OnnxTrainStep,
    state: TrainingState | null,
  ) {
    this.name = `onnx-${trainer.provider}`;
    this.backend = this.name;
    this.shadows = trainer.weights.map((w) => Float32Array.from(w));
    if (state) {
      trainer.importState(state.optimizer);
      if (state.ema) {
        ir.params.forEach((p, i) => {
          const e = state.ema!.get(p.name);
          if (!e) throw new Error(`checkpoint ema lacks parameter ${p.name}`);
          this.shadows[i] = Float32Array.from(e);
        });
        this.emaUpdates = state.step;
      }
    }
  }

  /** Probes onnxruntime's providers (cuda, dml, webgpu, cpu) and compiles the step for this config's batch. */
  static async create(
    ir: ModelIR,
    config: TrainConfig,
    schedule: DiscreteSchedule,
    discreteData: boolean,
    /** Initial weights: the checkpoint's when resuming. */
    weights: ReadonlyMap<string, Float32Array>,
    state: TrainingState | null,
    log: (line: string) => void,
    options: { providers?: readonly OnnxProvider[]; threads?: number } = {},
  ): Promise<OnnxTrainEngine> {
    const trainer = await OnnxTrainStep.create(
      ir,
      {
        batch: config.batchSize,
        prediction: config.objective,
        learnedVariance: config.learnedVariance,
        discreteData,
        timesteps: schedule.T,
        mode: 'update',
        optimizer: {
          kind: config.optimizer,
          beta1: config.beta1,
          beta2: config.beta2,
          eps: 1e-8,
          weightDecay: config.weightDecay,
        },
        gradClip: config.gradClip,
      },
      schedule,
      weights,
      {
        ...(options.providers ? { providers: options.providers } : {}),
        ...(options.threads !== undefined ? { intraOpThreads: options.threads } : {}),
      },
    );
    for (const p of trainer.probes) if (p.error) log(`onnxruntime ${p.provider} unavailable: ${p.error}`);
    return new OnnxTrainEngine(ir, config, trainer, state);
  }

  step(batch: TrainBatch, lr: number, dropoutSeed: number): Promise<StepOutcome> {
    return this.trainer.update(batch, lr, dropoutSeed);
  }

  updateEma(): void {
    const d = Math.fround(emaDecay({ decay: this.config.emaDecay, warmup: this.config.emaWarmup }, this.emaUpdates));
    const e = Math.fround(1 - d);
    this.emaUpdates += 1;
    this.trainer.weights.forEach((w, i) => {
      const s = this.shadows[i];
      for (let k = 0; k < s.length; k++) s[k] = Math.fround(s[k] * d) + Math.fround(w[k] * e);
    });
  }

  params(): Map<string, Float32Array> {
    return new Map(this.ir.params.map((p, i) => [p.name, Float32Array.from(this.trainer.weights[i])]));
  }

  ema(): Map<string, Float32Array> {
    return new Map(this.ir.params.map((p, i) => [p.name, Float32Array.from(this.shadows[i])]));
  }

  optimizerState(): OptimizerSnapshot {
    return {
      step: this.trainer.step,
      m: new Map(this.ir.params.map((p, i) => [p.name, Float32Array.from(this.trainer.m[i])])),
      v: new Map(this.ir.params.map((p, i) => [p.name, Float32Array.from(this.trainer.v[i])])),
    };
  }

  dispose(): Promise<void> {
    return this.trainer.dispose();
  }
}
