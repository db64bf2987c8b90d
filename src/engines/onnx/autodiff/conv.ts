/**
 * 2-D convolution (NCHW, weight OIHW, symmetric padding kernel // 2, as ir.ts defines it) with its gradients in
 * standard ONNX ops, in the formulation measured fastest on onnxruntime's CPU provider (shared/DESIGN.md):
 * - dX at stride 1: a Conv of dY with the weight transposed to [in, out] and flipped on the kernel axes;
 *   at stride 2: ConvTranspose of dY with the weight as is, output_padding making the size exact.
 * - dW: im2col of X (transposed to [Cin, B, H, W], padded, k*k strided Slices concatenated to
 *   [Cin*k*k, B*Ho*Wo]), then one Gemm with dY viewed as [Cout, B*Ho*Wo] (giving dW^T); at stride 1 with fewer
 *   output than input channels, the im2col of dY instead. For 1x1 kernels the im2col is X itself.
 * - db: dY summed over batch and space.
 * When the tape has a blocked-convolution block size (onnxruntime CPU), the forward Conv and the stride-1 dX Conv
 * run on the blocked kernels instead (nchwc-conv.ts) wherever their channel counts allow.
 */
import { numel, type Tape, type Value } from './tape.ts';
import { nchwcApplicable, nchwcConv } from './nchwc-conv.ts';
import { reduceSum, reshape, transpose } from './ops.ts';

export interface ConvGeometry {
  kernel: number;
  stride: number;
}

export function conv2d(t: Tape, x: Value, w: Value, b: Value | null, geo: ConvGeometry): Value {
  const { kernel: k, stride: s } = geo;
  const p = k >> 1;
  const [n, cin, h, wd] = x.shape;
  const [cout] = w.shape;
  if (w.shape[1] !== cin || w.shape[2] !== k || w.shape[3] !== k) {
    throw new RangeError(`conv2d: weight [${w.shape}] does not fit input [${x.shape}] with kernel ${k}`);
  }
  const ho = Math.floor((h + 2 * p - k) / s) + 1;
  const wo = Math.floor((wd + 2 * p - k) / s) + 1;
  const shape = [n, cout, ho, wo];
  const ins = b ? [x, w, b] : [x, w];
  const vjp = (g: Value) => [
    x.grad ? inputGradient(t, g, w, geo, [h, wd]) : null,
    w.grad ? weightGradient(t, g, x, geo) : null,
    ...(b ? [b.grad ? reduceSum(t, g, [0, 2, 3]) : null] : []),
  ];
  if (t.nchwcBlock && nchwcApplicable(t.nchwcBlock, cin, cout)) {
    return t.composite(ins, () => nchwcConv(t, x, w, b, { kernel: k, stride: s, pad: p }, shape, 'Conv'), vjp);
  }
  return t.op('Conv', ins, shape, {
    attrs: { kernel_shape: [k, k], strides: [s, s], pads: [p, p, p, p] },
    vjp,
  });
}

function inputGradient(t: Tape, g: Value, w: Value, geo: ConvGeometry, [h, wd]: number[]): Value {
  const { kernel: k, stride: s } = geo;
  const p = k >> 1;
  const [n, , ho, wo] = g.shape;
  const cin = w.shape[1];
  const shape = [n, cin, h, wd];
  if (s === 1) {
    // Full correlation with the flipped, transposed kernel; same padding because k is odd.
    if (t.nchwcBlock && nchwcApplicable(t.nchwcBlock, g.shape[1], cin)) {
      return nchwcConv(t, g, w, null, { kernel: k, stride: 1, pad: p }, shape, 'ConvDX', true);
    }
    const wt = transpose(t, w, [1, 0, 2, 3]);
    const flipped =
      k === 1
        ? wt
        : t.op('Slice', [wt, t.ints([-1, -1]), t.ints([-k - 1, -k - 1]), t.ints([2, 3]), t.ints([-1, -1])], wt.shape);
    return t.op('Conv', [g, flipped], shape, {
      attrs: { kernel_shape: [k, k], strides: [1, 1], pads: [p, p, p, p] },
      hint: 'ConvDX',
    });
  }
  const outPad = [h - ((ho - 1) * s - 2 * p + k), wd - ((wo - 1) * s - 2 * p + k)];
  return t.op('ConvTranspose', [g, w], shape, {
    attrs: { kernel_shape: [k, k], strides: [s, s], pads: [p, p, p, p], output_padding: outPad },
    hint: 'ConvDX',
  });
}

function weightGradient(t: Tape, g: Value, x: Value, geo: ConvGeometry): Value {
  const { kernel: k, stride: s } = geo;
  const p = k >> 1;
  const [n, cin] = x.shape;
  const [, cout, ho, wo] = g.shape;
  const cols = n * ho * wo;
  const flat = (v: Value): Value => reshape(t, transpose(t, v, [1, 0, 2, 3]), [v.shape[1], cols]);
  if (k === 1 && s === 1) return reshape(t, gemmDW(t, flat(x), flat(g), [cin, 1, cout], [2, 0, 1]), [cout, cin, 1, 1]);
  if (s === 1 && cout < cin) {
    // im2col of the narrower side: dW[o, i, ky, kx] = sum X[i, u, v] dY[o, u - ky + p, v - kx + p], i.e. dY padded
    // by p and viewed at offset (2p - ky, 2p - kx) (a U-Net's up path concatenates skips: 48 -> 16 channels on tiny).
    const taps = im2col(t, g, k, 1, p, (ky, kx) => [2 * p - ky, 2 * p - kx]);
    return reshape(t, gemmDW(t, taps, flat(x), [cout, k * k, cin], [0, 2, 1]), [cout, cin, k, k]);
  }
  const taps = im2col(t, x, k, s, p, (ky, kx) => [ky, kx]);
  return reshape(t, gemmDW(t, taps, flat(g), [cin, k * k, cout], [2, 0, 1]), [cout, cin, k, k]);
}

/**
 * a . b^T, with a the large im2col matrix: MLAS packs only the B side, so the small one goes there (tiny's weight
 * gradients 27 -> 17 ms a step; 1.1-2.8x per Gemm in a micro-benchmark, most with few output channels). The result,
 * viewed as `view`, is transposed by `perm` to [Cout, Cin, k*k]: never a 2-D Transpose right after the Gemm, which
 * onnxruntime's GemmTransposeFusion would fold into a Gemm in the slower orientation.
 */
function gemmDW(t: Tape, a: Value, b: Value, view: number[], perm: number[]): Value {
  const ab = t.op('Gemm', [a, b], [a.shape[0], b.shape[0]], { attrs: { transB: 1 }, hint: 'GemmDW' });
  if (numel(ab.shape) !== numel(view)) throw new Error('internal: conv weight gradient size');
  return transpose(t, reshape(t, ab, view), perm);
}

/**
 * im2col of v [B, C, H, W] as [C*k*k, B*Ho*Wo]: for each tap, the strided Slice of v padded by p that starts at
 * `origin(ky, kx)`, all concatenated. Measured against a 3-D Conv with a one-hot filter (DESIGN.md's first choice):
 * same best case, 1.5-2.5x faster median (the Conv allocates its own column buffer every run).
 */
function im2col(
  t: Tape,
  v: Value,
  k: number,
  s: number,
  p: number,
  origin: (ky: number, kx: number) => [number, number],
): Value {
  const [n, c, h, w] = v.shape;
  const ho = Math.floor((h + 2 * p - k) / s) + 1;
  const wo = Math.floor((w + 2 * p - k) / s) + 1;
  const vt = transpose(t, v, [1, 0, 2, 3]);
  const padded = t.op('Pad', [vt, t.ints([0, 0, p, p, 0, 0, p, p])], [c, n, h + 2 * p, w + 2 * p]);
  const shifts: Value[] = [];
  for (let ky = 0; ky < k; ky++) {
    for (let kx = 0; kx < k; kx++) {
      const [oy, ox] = origin(ky, kx);
      if (s === 1 && oy === p && ox === p) {
        // The centre tap at stride 1 is v itself.
        shifts.push(reshape(t, vt, [c, 1, n, ho, wo]));
        continue;
      }
      const ends = [oy + (ho - 1) * s + 1, ox + (wo - 1) * s + 1];
      const shifted = t.op(
        'Slice',
        [padded, t.ints([oy, ox]), t.ints(ends), t.ints([2, 3]), t.ints([s, s])],
        [c, n, ho, wo],
        { hint: 'Im2col' },
      );
      shifts.push(reshape(t, shifted, [c, 1, n, ho, wo]));
    }
  }
  const cat = t.op('Concat', shifts, [c, k * k, n, ho, wo], { attrs: { axis: 1 }, hint: 'Im2col' });
  return reshape(t, cat, [c * k * k, n * ho * wo]);
}
