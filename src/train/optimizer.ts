/**
 * Adam and AdamW (Kingma & Ba 2015; Loshchilov & Hutter 2019) with explicit, exportable state, following PyTorch's
 * torch.optim semantics: bias-corrected moments, eps outside the square root, Adam's weight decay added to the
 * gradient (L2), AdamW's decoupled (w -= lr * wd * w before the Adam step).
 *
 * tfjs's own optimizers hide their slots; exact resume needs the moments and the step count in the checkpoint.
 */
import * as tf from '@tensorflow/tfjs';

export interface AdamConfig {
  kind: 'adam' | 'adamw';
  beta1: number;
  beta2: number;
  eps: number;
  weightDecay: number;
}

export const ADAM_DEFAULTS: AdamConfig = { kind: 'adamw', beta1: 0.9, beta2: 0.999, eps: 1e-8, weightDecay: 0 };

export interface AdamState {
  step: number;
  m: Float32Array[];
  v: Float32Array[];
}

export class AdamOptimizer {
  /** Number of updates applied so far (PyTorch's state['step']). */
  step = 0;
  private readonly m: tf.Variable[];
  private readonly v: tf.Variable[];

  constructor(
    readonly variables: readonly tf.Variable[],
    readonly config: AdamConfig = ADAM_DEFAULTS,
  ) {
    this.m = variables.map((w) => tf.variable(tf.zerosLike(w), false));
    this.v = variables.map((w) => tf.variable(tf.zerosLike(w), false));
  }

  /** One update with the given gradients (same order as `variables`) and learning rate. */
  apply(grads: readonly tf.Tensor[], lr: number): void {
    const { beta1, beta2, eps, weightDecay, kind } = this.config;
    this.step += 1;
    const bc1 = 1 - beta1 ** this.step;
    const bc2 = 1 - beta2 ** this.step;
    tf.tidy(() => {
      this.variables.forEach((w, i) => {
        let g = grads[i];
        if (kind === 'adam' && weightDecay) g = g.add(w.mul(weightDecay));
        const m = this.m[i].mul(beta1).add(g.mul(1 - beta1));
        const v = this.v[i].mul(beta2).add(g.square().mul(1 - beta2));
        this.m[i].assign(m);
        this.v[i].assign(v);
        const base: tf.Tensor = kind === 'adamw' && weightDecay ? w.mul(1 - lr * weightDecay) : w;
        const denom = v.div(bc2).sqrt().add(eps);
        w.assign(base.sub(m.div(denom).mul(lr / bc1)));
      });
    });
  }

  exportState(): AdamState {
    return {
      step: this.step,
      m: this.m.map((t) => t.dataSync() as Float32Array).map((a) => a.slice()),
      v: this.v.map((t) => t.dataSync() as Float32Array).map((a) => a.slice()),
    };
  }

  importState(state: AdamState): void {
    if (state.m.length !== this.m.length || state.v.length !== this.v.length) {
      throw new Error(`optimizer state has ${state.m.length} moments, the model has ${this.m.length} parameters`);
    }
    this.step = state.step;
    this.m.forEach((t, i) => t.assign(tf.tensor(state.m[i], t.shape, 'float32')));
    this.v.forEach((t, i) => t.assign(tf.tensor(state.v[i], t.shape, 'float32')));
  }

  dispose(): void {
    this.m.forEach((t) => t.dispose());
    this.v.forEach((t) => t.dispose());
  }
}

/**
 * Scale gradients so that their global L2 norm is at most maxNorm (torch.nn.utils.clip_grad_norm_: factor
 * maxNorm / (norm + 1e-6), never above 1). Returns the norm before clipping and the (possibly new) gradients.
 */
export function clipByGlobalNorm(grads: tf.Tensor[], maxNorm: number): { norm: number; grads: tf.Tensor[] } {
  const norm = Math.sqrt(tf.tidy(() => tf.addN(grads.map((g) => g.square().sum())).dataSync()[0]));
  if (!(maxNorm > 0) || !Number.isFinite(norm)) return { norm, grads };
  const factor = Math.min(1, maxNorm / (norm + 1e-6));
  if (factor === 1) return { norm, grads };
  return { norm, grads: grads.map((g) => g.mul(factor)) };
}
