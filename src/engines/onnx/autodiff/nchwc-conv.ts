/**
 * A 2-D convolution on onnxruntime CPU's blocked-layout kernels (domain com.microsoft.nchwc), for graphs whose
 * weights are inputs. onnxruntime rewrites Conv into these kernels by itself only when the weight is a constant
 * initializer (inference); a training step feeds its weights, so it gets the plain im2col + GEMM Conv, which on the
 * small U-Net's forward at batch 32 took 178 ms against 84 ms blocked. Here the graph does the rewrite itself:
 *
 *   x [B, Cin, H, W] --ReorderInput--> [B, Cin/b, H, W, b] --nchwc.Conv--> [B, Cout/b, Ho, Wo, b] --ReorderOutput--> y
 *
 * with the weight reordered in the graph (Reshape + Transpose) to the layout MLAS's filter reorder produces:
 * OIHWBiBo, [Cout/b][Cin/b][kh][kw][bi][bo], or OIHWBo, [Cout/b][Cin][kh][kw][bo], when Cin < b (then x stays NCHW).
 * b is the kernel's block size (8 with AVX2, 16 with AVX-512), probed at run time (../nchwc.ts).
 */
import { reshape, transpose } from './ops.ts';
import type { Tape, Value } from './tape.ts';

export const NCHWC_DOMAIN = 'com.microsoft.nchwc';

export interface ConvAttrs {
  kernel: number;
  stride: number;
  pad: number;
}

/** Whether nchwcConv can run this convolution: channel counts the blocked kernels take without padding. */
export function nchwcApplicable(block: number, cin: number, cout: number): boolean {
  return cout % block === 0 && (cin % block === 0 || cin < block);
}

/**
 * y = conv(x, W) + b on the blocked kernels, where W is `w` (OIHW) or, with `flipTransposed` (the input gradient
 * of a stride-1 convolution), w with its two channel axes swapped and its kernel flipped, reordered straight from w
 * in one Transpose. `shape` is the NCHW output shape. No VJP: the caller wraps this in Tape.composite with the
 * convolution's own.
 */
export function nchwcConv(
  t: Tape,
  x: Value,
  w: Value,
  b: Value | null,
  { kernel: k, stride: s, pad: p }: ConvAttrs,
  shape: readonly number[],
  hint: string,
  flipTransposed = false,
): Value {
  const block = t.nchwcBlock;
  const [n, cin, h, wd] = x.shape;
  const cout = shape[1];
  if (!block || !nchwcApplicable(block, cin, cout)) {
    throw new RangeError(`internal: no blocked convolution for ${cin} -> ${cout} channels (block ${block})`);
  }
  const filter = reshape(t, blockedFilter(t, w, block, cin, cout, k, flipTransposed), [cout, cin, k, k]);
  const nchw = cin < block;
  const input = nchw ? x : t.op('ReorderInput', [x], [n, cin, h, wd], { domain: NCHWC_DOMAIN, hint: `${hint}Reorder` });
  const blocked = t.op('Conv', b ? [input, filter, b] : [input, filter], shape, {
    domain: NCHWC_DOMAIN,
    attrs: { kernel_shape: [k, k], strides: [s, s], pads: [p, p, p, p] },
    hint,
  });
  return t.op('ReorderOutput', [blocked], shape, {
    domain: NCHWC_DOMAIN,
    attrs: { channels: cout },
    hint: `${hint}Reorder`,
  });
}

/**
 * The filter of a cin -> cout convolution in MLAS's layout: OIHWBiBo, [cout/b][cin/b][kh][kw][bi][bo], or OIHWBo,
 * [cout/b][cin][kh][kw][bo], when cin < b. The filter is w [cout, cin, k, k], or with `flipTransposed` W[o][i][y][x]
 * = w[i][o][k-1-y][k-1-x] for w [cin, cout, k, k].
 */
function blockedFilter(
  t: Tape,
  w: Value,
  block: number,
  cin: number,
  cout: number,
  k: number,
  flipTransposed: boolean,
): Value {
  const flip = (v: Value, axes: number[]): Value =>
    k === 1
      ? v
      : t.op('Slice', [v, t.ints([-1, -1]), t.ints([-k - 1, -k - 1]), t.ints(axes), t.ints([-1, -1])], v.shape);
  if (cin < block) {
    return flipTransposed
      ? // w as [cin, cout/b, bo, k, k], flipped -> [cout/b, cin, kh, kw, bo]
        transpose(t, flip(reshape(t, w, [cin, cout / block, block, k, k]), [3, 4]), [1, 0, 3, 4, 2])
      : // w as [cout/b, bo, cin, k, k] -> [cout/b, cin, kh, kw, bo]
        transpose(t, reshape(t, w, [cout / block, block, cin, k, k]), [0, 2, 3, 4, 1]);
  }
  return flipTransposed
    ? // w as [cin/b, bi, cout/b, bo, k, k], flipped -> [cout/b, cin/b, kh, kw, bi, bo]
      transpose(t, flip(reshape(t, w, [cin / block, block, cout / block, block, k, k]), [4, 5]), [2, 0, 4, 5, 1, 3])
    : // w as [cout/b, bo, cin/b, bi, k, k] -> [cout/b, cin/b, kh, kw, bi, bo]
      transpose(t, reshape(t, w, [cout / block, block, cin / block, block, k, k]), [0, 2, 4, 5, 3, 1]);
}
