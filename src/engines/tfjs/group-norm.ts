/**
 * nn.GroupNorm on channels-last tensors [B, ...positions, C]: statistics per sample and group of C / groups
 * channels (biased variance), then the per-channel affine map.
 *
 * 'custom' mode differentiates in closed form (x^ = normalized x, means over a sample's group):
 *   dx = rstd * (g - mean(g) - x^ * mean(g * x^)) with g = dy * gamma;  dgamma = sum(dy * x^);  dbeta = sum(dy)
 * about 2x faster on wasm than autodiff through tf.moments (48 against 80-100 ms fwd + bwd on [32, 28, 28, 64]).
 */
import * as tf from '@tensorflow/tfjs';
import type { GradMode } from './grad-mode.ts';

function normalize(x: tf.Tensor, groups: number, eps: number): { xhat: tf.Tensor; rstd: tf.Tensor } {
  const shape = x.shape;
  const c = shape[shape.length - 1];
  const g = tf.reshape(x, [shape[0], -1, groups, c / groups]);
  const xc = tf.sub(g, tf.mean(g, [1, 3], true));
  const rstd = tf.rsqrt(tf.add(tf.mean(tf.square(xc), [1, 3], true), eps));
  return { xhat: tf.reshape(tf.mul(xc, rstd), shape), rstd };
}

const cache = new Map<string, (x: tf.Tensor, gamma: tf.Tensor1D, beta: tf.Tensor1D) => tf.Tensor>();

function closedForm(groups: number, eps: number): (x: tf.Tensor, gamma: tf.Tensor1D, beta: tf.Tensor1D) => tf.Tensor {
  const key = `${groups}:${eps}`;
  let f = cache.get(key);
  if (!f) {
    f = tf.customGrad(((x: tf.Tensor, gamma: tf.Tensor1D, beta: tf.Tensor1D, save: tf.GradSaveFunc) => {
      const { xhat, rstd } = normalize(x, groups, eps);
      save([xhat, rstd, gamma]);
      const gradFunc = (dy: tf.Tensor, saved: tf.Tensor[]): tf.Tensor[] => {
        const [xh, rs, gm] = saved;
        const shape = dy.shape;
        const axes = shape.slice(0, -1).map((_, i) => i);
        const grouped = [shape[0], -1, groups, shape[shape.length - 1] / groups];
        const g = tf.reshape(tf.mul(dy, gm), grouped);
        const xg = tf.reshape(xh, grouped);
        const m1 = tf.mean(g, [1, 3], true);
        const m2 = tf.mean(tf.mul(g, xg), [1, 3], true);
        const dx = tf.mul(tf.sub(tf.sub(g, m1), tf.mul(xg, m2)), rs);
        return [tf.reshape(dx, shape), tf.sum(tf.mul(dy, xh), axes), tf.sum(dy, axes)];
      };
      return { value: tf.add(tf.mul(xhat, gamma), beta), gradFunc };
    }) as unknown as Parameters<typeof tf.customGrad>[0]) as unknown as typeof f;
    cache.set(key, f!);
  }
  return f!;
}

export function groupNorm(
  x: tf.Tensor,
  groups: number,
  eps: number,
  gamma: tf.Tensor1D,
  beta: tf.Tensor1D,
  mode: GradMode,
): tf.Tensor {
  if (mode === 'custom') return closedForm(groups, eps)(x, gamma, beta);
  const { xhat } = normalize(x, groups, eps);
  return tf.add(tf.mul(xhat, gamma), beta);
}
