/**
 * The IR's conv2d in tfjs: PyTorch padding (kernel // 2 on every side, also at stride 2 where TF 'SAME' would pad
 * only bottom/right), NHWC input, HWIO filter.
 *
 * Two gradient modes (grad-mode.ts):
 * - 'autodiff': tfjs's own Conv2DBackpropInput / Conv2DBackpropFilter kernels (webgpu, tensorflow).
 * - 'custom': both gradients as forward convolutions via tf.customGrad, for backends that lack
 *   Conv2DBackpropFilter (wasm) or run it or Conv2DBackpropInput slowly (wasm: DESIGN.md measured 1960 ms per step
 *   this way against 4750 ms with the built-in input gradient; cpu: its pure-JS filter gradient is far slower than
 *   its forward conv). With y[oh] = sum_k x[oh*s + k - p] w[k]:
 *     dW = conv(x^T [I, H, W, B], dy^T [OH, OW, B, O], dilation s, pad p top/left) -> [I, K, K, O] -> [K, K, I, O]
 *     dX = conv(zero-inserted dy, w flipped in space and transposed to [K, K, O, I], pad K - 1 - p top/left)
 *   The bottom/right pads are whatever makes the output the right size (computed, never assumed).
 */
import * as tf from '@tensorflow/tfjs';
import type { GradMode } from './grad-mode.ts';

type Pad = [[0, 0], [number, number], [number, number], [0, 0]];

function outSize(n: number, k: number, s: number, p: number): number {
  return Math.floor((n + 2 * p - k) / s) + 1;
}

/**
 * Pads (possibly negative: then crops) NHWC x spatially by [top, bottom] x [left, right] and convolves with
 * stride 1 and the given dilation, 'valid'. tfjs explicit padding must be >= 0, so negative ends become slices.
 */
function convPadded(
  x: tf.Tensor4D,
  w: tf.Tensor4D,
  [pt, pb]: [number, number],
  [pl, pr]: [number, number],
  dilation: number,
): tf.Tensor4D {
  let input = x;
  if (pb < 0 || pr < 0) {
    const [, h, wd] = x.shape;
    input = tf.slice(x, [0, 0, 0, 0], [-1, h + Math.min(pb, 0), wd + Math.min(pr, 0), -1]);
  }
  const pad: Pad = [
    [0, 0],
    [pt, Math.max(pb, 0)],
    [pl, Math.max(pr, 0)],
    [0, 0],
  ];
  return tf.conv2d(input, w, 1, pad, 'NHWC', dilation);
}

/** Input gradient as a forward conv. */
export function convInputGrad(dy: tf.Tensor4D, w: tf.Tensor4D, xShape: readonly number[], stride: number): tf.Tensor4D {
  const [, h, wd] = xShape;
  const [k] = w.shape;
  const p = k >> 1;
  const [b, oh, ow, o] = dy.shape;
  let d = dy;
  let lh = oh;
  let lw = ow;
  if (stride > 1) {
    // Zero-insert: [B, OH, 1, OW, 1, O] padded to [B, OH, s, OW, s, O]; the trailing zeros are part of the padding.
    const s = stride;
    d = tf
      .pad(tf.reshape(dy, [b, oh, 1, ow, 1, o]), [
        [0, 0],
        [0, 0],
        [0, s - 1],
        [0, 0],
        [0, s - 1],
        [0, 0],
      ])
      .reshape([b, oh * s, ow * s, o]);
    lh = oh * s;
    lw = ow * s;
  }
  const wFlip = tf.transpose(tf.reverse(w, [0, 1]), [0, 1, 3, 2]) as tf.Tensor4D;
  const q = k - 1 - p;
  return convPadded(d, wFlip, [q, h + k - 1 - lh - q], [q, wd + k - 1 - lw - q], 1);
}

/** Filter gradient as a forward conv with dilation = stride. */
export function convFilterGrad(x: tf.Tensor4D, dy: tf.Tensor4D, k: number, stride: number): tf.Tensor4D {
  const [, h, wd] = x.shape;
  const [, oh, ow] = dy.shape;
  const p = k >> 1;
  const xt = tf.transpose(x, [3, 1, 2, 0]) as tf.Tensor4D; // [I, H, W, B]: channels become the batch
  const dyt = tf.transpose(dy, [1, 2, 0, 3]) as tf.Tensor4D; // [OH, OW, B, O]: a filter over the samples
  const g = convPadded(xt, dyt, [p, k + (oh - 1) * stride - h - p], [p, k + (ow - 1) * stride - wd - p], stride);
  return tf.transpose(g, [1, 2, 0, 3]) as tf.Tensor4D; // [K, K, I, O]
}

const forwardGradConvs = new Map<number, (x: tf.Tensor4D, w: tf.Tensor4D) => tf.Tensor4D>();

function forwardGradConv(stride: number): (x: tf.Tensor4D, w: tf.Tensor4D) => tf.Tensor4D {
  let f = forwardGradConvs.get(stride);
  if (!f) {
    const g = tf.customGrad(((x: tf.Tensor4D, w: tf.Tensor4D, save: tf.GradSaveFunc) => {
      save([x, w]);
      const p = w.shape[0] >> 1;
      const pad: Pad = [
        [0, 0],
        [p, p],
        [p, p],
        [0, 0],
      ];
      const value = tf.conv2d(x, w, stride, pad);
      const gradFunc = (dy: tf.Tensor4D, saved: tf.Tensor[]): tf.Tensor[] => {
        const [xs, ws] = saved as [tf.Tensor4D, tf.Tensor4D];
        return [convInputGrad(dy, ws, xs.shape, stride), convFilterGrad(xs, dy, ws.shape[0], stride)];
      };
      return { value, gradFunc };
    }) as unknown as Parameters<typeof tf.customGrad>[0]);
    f = g as unknown as (x: tf.Tensor4D, w: tf.Tensor4D) => tf.Tensor4D;
    forwardGradConvs.set(stride, f);
  }
  return f;
}

/** nn.Conv2d(padding = k // 2) on NHWC x with an HWIO filter [K, K, I, O] (square, odd K), no bias. */
export function conv2dTorch(x: tf.Tensor4D, w: tf.Tensor4D, stride: number, mode: GradMode): tf.Tensor4D {
  const k = w.shape[0];
  if (k !== w.shape[1] || k % 2 !== 1) throw new Error(`conv2d needs a square odd kernel, got ${w.shape}`);
  if (mode === 'custom') return forwardGradConv(stride)(x, w);
  const p = k >> 1;
  const pad: Pad = [
    [0, 0],
    [p, p],
    [p, p],
    [0, 0],
  ];
  const y = tf.conv2d(x, w, stride, pad);
  const [, h, wd] = x.shape;
  if (y.shape[1] !== outSize(h, k, stride, p) || y.shape[2] !== outSize(wd, k, stride, p)) {
    throw new Error('conv2d output size differs from PyTorch semantics'); // guards the padding convention
  }
  return y;
}
