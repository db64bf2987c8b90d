/**
 * The IR's ops (ir.ts defines their semantics) as tfjs functions over batch-first tensors, weights already in tfjs
 * layout (conv HWIO, linear [in, out]). Every op here has a float64 counterpart in src/model/reference.ts and a
 * test against it (tests/unit/tfjs-ops.test.ts). Only ops whose gradients every backend has are used: e.g. class
 * embeddings are a one-hot matmul because wasm has no UnsortedSegmentSum (the gradient of gather).
 */
import * as tf from '@tensorflow/tfjs';
import { conv2dTorch } from './conv.ts';
import type { GradMode } from './grad-mode.ts';
import { groupNorm } from './group-norm.ts';
import { matMul, swapLast2 } from './matmul.ts';

export { groupNorm };

/** y = x W + b over the last axis, any rank. w: [in, out]. */
export function linear(x: tf.Tensor, w: tf.Tensor2D, b: tf.Tensor1D, mode: GradMode): tf.Tensor {
  const [fin, fout] = w.shape;
  const lead = x.shape.slice(0, -1);
  const y = tf.add(matMul(x.rank === 2 ? x : tf.reshape(x, [-1, fin]), w, mode), b);
  return x.rank === 2 ? y : tf.reshape(y, [...lead, fout]);
}

/** The IR conv2d (PyTorch padding) plus bias. 1x1 stride-1 convs run as a matmul (cheaper gradients). */
export function conv2d(x: tf.Tensor4D, w: tf.Tensor4D, b: tf.Tensor1D, stride: number, mode: GradMode): tf.Tensor4D {
  const [k, , cin, cout] = w.shape;
  if (k === 1 && stride === 1) return linear(x, tf.reshape(w, [cin, cout]) as tf.Tensor2D, b, mode) as tf.Tensor4D;
  return tf.add(conv2dTorch(x, w, stride, mode), b);
}

export function silu(x: tf.Tensor): tf.Tensor {
  return tf.mul(x, tf.sigmoid(x));
}

/** Frequencies exp(-ln(maxPeriod) i / half), computed in float64 and rounded once. */
export function timestepFrequencies(dim: number, maxPeriod: number): Float32Array {
  const half = dim / 2;
  return Float32Array.from({ length: half }, (_, i) => Math.exp((-Math.log(maxPeriod) * i) / half));
}

/** [cos(t f), sin(t f)] for t [B] -> [B, dim]. */
export function timestepEmbedding(t: tf.Tensor1D, dim: number, maxPeriod: number): tf.Tensor2D {
  const freqs = tf.tensor2d(timestepFrequencies(dim, maxPeriod), [1, dim / 2]);
  const args = tf.mul(tf.reshape(t, [-1, 1]), freqs);
  return tf.concat([tf.cos(args), tf.sin(args)], 1) as tf.Tensor2D;
}

/** Rows of table [N, D] for int32 labels [B], as oneHot(labels) x table (differentiable on every backend). */
export function embedding(labels: tf.Tensor1D, table: tf.Tensor2D, mode: GradMode): tf.Tensor2D {
  return matMul(tf.cast(tf.oneHot(labels, table.shape[0]), 'float32'), table, mode) as tf.Tensor2D;
}

/** [B, H, W, C] + [B, C]. */
export function addBroadcast(x: tf.Tensor4D, v: tf.Tensor2D): tf.Tensor4D {
  return tf.add(x, tf.reshape(v, [v.shape[0], 1, 1, v.shape[1]]));
}

/**
 * Nearest 2x upsampling by reshape and a broadcast multiply with ones: its gradient is a plain sum over the 2x2
 * copies on every backend (the cpu backend's ResizeNearestNeighborGrad is wrong for batch > 1).
 */
export function upsampleNearest2x(x: tf.Tensor4D): tf.Tensor4D {
  const [b, h, w, c] = x.shape;
  const y = tf.mul(tf.reshape(x, [b, h, 1, w, 1, c]), tf.ones([1, 1, 2, 1, 2, 1]));
  return tf.reshape(y, [b, 2 * h, 2 * w, c]);
}

export function concatChannels(xs: tf.Tensor[]): tf.Tensor {
  return tf.concat(xs, -1);
}

export interface AttentionWeights {
  normW: tf.Tensor1D;
  normB: tf.Tensor1D;
  /** [C, 3C]: columns q, then k, then v; head j owns columns j*d .. (j+1)*d - 1 of each. */
  qkvW: tf.Tensor2D;
  qkvB: tf.Tensor1D;
  /** [C, C] */
  projW: tf.Tensor2D;
  projB: tf.Tensor1D;
}

/** The IR self_attention op (no residual) on [B, H, W, C]. */
export function selfAttention(
  x: tf.Tensor4D,
  heads: number,
  groups: number,
  eps: number,
  p: AttentionWeights,
  mode: GradMode,
): tf.Tensor4D {
  const [b, h, w, c] = x.shape;
  const n = h * w;
  const d = c / heads;
  const hn = tf.reshape(groupNorm(x, groups, eps, p.normW, p.normB, mode), [b, n, c]);
  const qkv = linear(hn, p.qkvW, p.qkvB, mode); // [B, N, 3C]
  const [q, k, v] = tf.split(qkv, 3, 2).map((t) => tf.transpose(tf.reshape(t, [b, n, heads, d]), [0, 2, 1, 3]));
  const scores = tf.mul(matMul(q, swapLast2(k), mode), 1 / Math.sqrt(d)); // [B, heads, N, N]
  const att = matMul(tf.softmax(scores), v, mode); // [B, heads, N, d]
  const merged = tf.reshape(tf.transpose(att, [0, 2, 1, 3]), [b, n, c]);
  return tf.reshape(linear(merged, p.projW, p.projB, mode), [b, h, w, c]);
}

/**
 * Inverted dropout with a reproducible mask: tf.randomUniform with a string seed (seedrandom's alea in JS, so the
 * same on every backend). The mask depends on the seed and the tensor shape only.
 */
export function dropout(x: tf.Tensor, rate: number, seed: string): tf.Tensor {
  if (rate === 0) return x;
  const keep = tf.cast(tf.greaterEqual(tf.randomUniform(x.shape, 0, 1, 'float32', seed), rate), 'float32');
  return tf.mul(x, tf.mul(keep, 1 / (1 - rate)));
}
