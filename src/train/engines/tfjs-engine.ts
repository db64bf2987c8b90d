/** The tfjs training engine: eager forward, tf.variableGrads backward, optimizer.ts Adam/AdamW, tfjs EMA. */
import * as tf from '@tensorflow/tfjs';
import type { TrainingState } from '../../checkpoint/state.ts';
import type { DiscreteSchedule } from '../../core/schedules.ts';
import { fromTfjsLayout, TfjsModel, toTfjsLayout } from '../../engines/tfjs/model.ts';
import type { ModelIR } from '../../model/ir.ts';
import type { TrainConfig } from '../config.ts';
import { Ema } from '../ema.ts';
import { diffusionLoss, type ObjectiveSpec } from '../objectives.ts';
import { AdamOptimizer, clipByGlobalNorm } from '../optimizer.ts';
import type { OptimizerSnapshot, StepOutcome, TrainBatch, TrainEngine } from './engine.ts';

function canonical(ir: ModelIR, values: readonly Float32Array[]): Map<string, Float32Array> {
  return new Map(ir.params.map((spec, i) => [spec.name, fromTfjsLayout(spec, values[i])]));
}

function tfjsLayout(ir: ModelIR, map: ReadonlyMap<string, Float32Array>, what: string): Float32Array[] {
  return ir.params.map((spec) => {
    const v = map.get(spec.name);
    if (!v) throw new Error(`checkpoint ${what} lacks parameter ${spec.name}`);
    return toTfjsLayout(spec, v).data;
  });
}

export class TfjsTrainEngine implements TrainEngine {
  readonly name: string;
  readonly versions = { tfjs: tf.version.tfjs };
  private readonly model: TfjsModel;
  private readonly vars: tf.Variable[];
  private readonly optimizer: AdamOptimizer;
  private readonly emaState: Ema;
  private readonly objective: ObjectiveSpec;

  constructor(
    private readonly ir: ModelIR,
    private readonly config: TrainConfig,
    schedule: DiscreteSchedule,
    discreteData: boolean,
    readonly backend: string,
    /** Initial weights: the checkpoint's when resuming. */
    weights: ReadonlyMap<string, Float32Array>,
    state: TrainingState | null,
  ) {
    this.name = `tfjs-${backend}`;
    this.model = TfjsModel.create(ir, weights);
    this.vars = this.model.trainableVariables();
    this.optimizer = new AdamOptimizer(this.vars, {
      kind: config.optimizer,
      beta1: config.beta1,
      beta2: config.beta2,
      eps: 1e-8,
      weightDecay: config.weightDecay,
    });
    this.emaState = new Ema(this.vars, { decay: config.emaDecay, warmup: config.emaWarmup });
    if (state) {
      this.optimizer.importState({
        step: state.optimizer.step,
        m: tfjsLayout(ir, state.optimizer.m, 'optimizer.m'),
        v: tfjsLayout(ir, state.optimizer.v, 'optimizer.v'),
      });
      if (state.ema) this.emaState.importWeights(tfjsLayout(ir, state.ema, 'ema'), state.step);
    }
    this.objective = { prediction: config.objective, learnedVariance: config.learnedVariance, schedule, discreteData };
  }

  async step(batch: TrainBatch, lr: number, dropoutSeed: number): Promise<StepOutcome> {
    const shape = [batch.t.length, ...this.ir.inputs.x.shape];
    let perSample: tf.Tensor1D | null = null;
    const x0T = tf.tensor(batch.x0, shape, 'float32');
    const epsT = tf.tensor(batch.eps, shape, 'float32');
    const xtT = tf.tensor(batch.xt, shape, 'float32');
    const tT = tf.tensor1d(Float32Array.from(batch.t), 'float32');
    const lT = batch.labels ? tf.tensor1d(batch.labels, 'int32') : null;
    const { value, grads } = tf.variableGrads(() => {
      const out = this.model.apply(xtT, tT, lT, { training: true, dropoutSeed });
      const r = diffusionLoss({ out, x0: x0T, eps: epsT, xt: xtT, t: batch.t }, this.objective);
      perSample = tf.keep(r.perSample);
      return r.loss;
    }, this.vars);
    const loss = value.dataSync()[0];
    const gradList = this.vars.map((v) => grads[v.name]);
    const clipped = clipByGlobalNorm(gradList, this.config.gradClip);
    const perSampleValues = Float32Array.from((perSample as tf.Tensor1D | null)?.dataSync() ?? []);
    const applied = Number.isFinite(loss) && Number.isFinite(clipped.norm);
    if (applied) this.optimizer.apply(clipped.grads, lr);
    tf.dispose([x0T, epsT, xtT, tT, value, ...gradList, ...(lT ? [lT] : []), ...(perSample ? [perSample] : [])]);
    if (clipped.grads !== gradList) tf.dispose(clipped.grads);
    return { loss, perSample: perSampleValues, gradNorm: clipped.norm, applied };
  }

  updateEma(): void {
    this.emaState.update();
  }

  params(): Map<string, Float32Array> {
    return this.model.readParams();
  }

  ema(): Map<string, Float32Array> {
    return canonical(this.ir, this.emaState.exportWeights());
  }

  optimizerState(): OptimizerSnapshot {
    const s = this.optimizer.exportState();
    return { step: this.optimizer.step, m: canonical(this.ir, s.m), v: canonical(this.ir, s.v) };
  }

  async dispose(): Promise<void> {
    this.optimizer.dispose();
    this.emaState.dispose();
    this.model.dispose();
  }
}
