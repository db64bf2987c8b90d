/**
 * Matrix products for training on wasm. Its BatchMatMul is fast on plain operands but about 8x slower with the
 * transposeA / transposeB flags, which tfjs's built-in matMul gradient uses (measured on [25088, 96] x [96, 32]:
 * 7.6 ms forward, 74 ms for dy W^T, 9.5 ms for dy times an explicitly transposed W). matMulPlain's gradient
 * transposes explicitly instead: dA = dy B^T, dB = A^T dy, with B^T and A^T materialized by tf.transpose.
 */
import * as tf from '@tensorflow/tfjs';
import type { GradMode } from './grad-mode.ts';

/** Swap the last two axes. */
export function swapLast2(x: tf.Tensor): tf.Tensor {
  const perm = x.shape.map((_, i) => i);
  perm[x.rank - 1] = x.rank - 2;
  perm[x.rank - 2] = x.rank - 1;
  return tf.transpose(x, perm);
}

const plain = tf.customGrad(((a: tf.Tensor, b: tf.Tensor, save: tf.GradSaveFunc) => {
  save([a, b]);
  const gradFunc = (dy: tf.Tensor, saved: tf.Tensor[]): tf.Tensor[] => {
    const [as, bs] = saved;
    return [tf.matMul(dy, swapLast2(bs)), tf.matMul(swapLast2(as), dy)];
  };
  return { value: tf.matMul(a, b), gradFunc };
}) as unknown as Parameters<typeof tf.customGrad>[0]) as unknown as (a: tf.Tensor, b: tf.Tensor) => tf.Tensor;

/**
 * a [..., M, K] x b [..., K, N] with equal batch axes (rank 2 to 4). 'custom' mode: gradients without transpose
 * flags (wasm); 'autodiff': tfjs's own.
 */
export function matMul(a: tf.Tensor, b: tf.Tensor, mode: GradMode): tf.Tensor {
  return mode === 'custom' ? plain(a, b) : tf.matMul(a, b);
}
