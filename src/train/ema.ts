/**
 * Exponential moving average of the weights. With warmup the decay ramps as min(decay, (1 + n) / (10 + n)) over the
 * n updates so far, so early EMA weights are not dominated by the random initialization.
 */
import * as tf from '@tensorflow/tfjs';

export interface EmaConfig {
  decay: number;
  warmup: boolean;
}

export function emaDecay(config: EmaConfig, updates: number): number {
  return config.warmup ? Math.min(config.decay, (1 + updates) / (10 + updates)) : config.decay;
}

export class Ema {
  updates = 0;
  readonly shadows: tf.Variable[];

  constructor(
    readonly variables: readonly tf.Variable[],
    readonly config: EmaConfig,
  ) {
    this.shadows = variables.map((w) => tf.variable(w.clone(), false));
  }

  update(): void {
    const d = emaDecay(this.config, this.updates);
    this.updates += 1;
    tf.tidy(() => {
      this.variables.forEach((w, i) => this.shadows[i].assign(this.shadows[i].mul(d).add(w.mul(1 - d))));
    });
  }

  exportWeights(): Float32Array[] {
    return this.shadows.map((t) => (t.dataSync() as Float32Array).slice());
  }

  importWeights(values: readonly Float32Array[], updates: number): void {
    this.shadows.forEach((t, i) => t.assign(tf.tensor(values[i], t.shape, 'float32')));
    this.updates = updates;
  }

  dispose(): void {
    this.shadows.forEach((t) => t.dispose());
  }
}
