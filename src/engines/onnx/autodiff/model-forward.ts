/**
 * The model IR as differentiable Tape ops: the same op semantics as ir.ts, export.ts (inference ONNX) and the tfjs
 * engine. Images are NCHW inside (what Conv wants); parameters are graph values in their canonical PyTorch layouts.
 * GroupNorm is written out (mean, variance, scale) so that its gradient comes from the primitives' VJPs.
 */
import type { IrNode, ModelIR } from '../../../model/ir.ts';
import { timestepFrequencies } from '../../tfjs/ops.ts';
import { conv2d } from './conv.ts';
import {
  add,
  concat,
  expand,
  gatherRows,
  groupNormalize,
  matmul,
  mul,
  reshape,
  silu,
  slice,
  softmax,
  transpose,
} from './ops.ts';
import type { Tape, Value } from './tape.ts';

export interface ForwardInputs {
  /** NCHW images or [B, D] vectors. */
  x: Value;
  /** Float timesteps [B]. */
  t: Value;
  /** int64 labels [B] (negative = null class), when conditional. */
  label?: Value;
  params: ReadonlyMap<string, Value>;
  /** Dropout masks by node output name (already scaled by 1 / (1 - rate)); absent = no dropout. */
  dropoutMasks?: ReadonlyMap<string, Value>;
}

/** Per-sample IR shape (HWC or [C]) -> this graph's batch shape (NCHW or [B, C]). */
export function batchShape(batch: number, shape: readonly number[]): number[] {
  return shape.length === 3 ? [batch, shape[2], shape[0], shape[1]] : [batch, ...shape];
}

export function modelForward(t: Tape, ir: ModelIR, inputs: ForwardInputs): Value {
  const B = inputs.x.shape[0];
  const P = (name: string): Value => {
    const v = inputs.params.get(name);
    if (!v) throw new Error(`ONNX training graph: missing parameter ${name}`);
    return v;
  };
  const vals = new Map<string, Value>([
    ['x', inputs.x],
    ['t', inputs.t],
  ]);
  if (ir.inputs.label) {
    if (!inputs.label) throw new Error('ONNX training graph: a conditional model needs labels');
    const n = ir.inputs.label.numClasses;
    const negative = t.op('Less', [inputs.label, t.ints([0], [])], inputs.label.shape, { dtype: 'bool' });
    vals.set('label', t.op('Where', [negative, t.ints([n], []), inputs.label], inputs.label.shape, { dtype: 'int64' }));
  }

  const groupNorm = (x: Value, groups: number, eps: number, w: Value, b: Value): Value => {
    const c = x.shape[1];
    const normed = groupNormalize(t, x, groups, eps);
    const affine = x.shape.length === 4 ? [c, 1, 1] : [c];
    return add(t, mul(t, normed, reshape(t, w, affine)), reshape(t, b, affine));
  };

  /** Linear over channels: a matmul on [B, C]; a 1x1 conv on NCHW maps. */
  const linear = (x: Value, w: Value, b: Value): Value => {
    if (x.shape.length === 2) return add(t, matmul(t, x, transpose(t, w, [1, 0])), b);
    const [fout, fin] = w.shape;
    return conv2d(t, x, reshape(t, w, [fout, fin, 1, 1]), b, { kernel: 1, stride: 1 });
  };

  const attention = (x: Value, n: IrNode & { op: 'self_attention' }): Value => {
    const [, c, h, w] = x.shape;
    const heads = n.heads;
    const d = c / heads;
    const p = n.params;
    const hn = groupNorm(x, n.groups, n.eps, P(p.norm.weight), P(p.norm.bias));
    const qkv = reshape(t, linear(hn, P(p.qkv.weight), P(p.qkv.bias)), [B, 3 * heads, d, h * w]);
    const q = slice(t, qkv, 1, 0, heads);
    const k = slice(t, qkv, 1, heads, 2 * heads);
    const v = slice(t, qkv, 1, 2 * heads, 3 * heads);
    const scores = mul(t, matmul(t, transpose(t, q, [0, 1, 3, 2]), k), t.scalar(1 / Math.sqrt(d)));
    const probs = softmax(t, scores); // [B, heads, N, N], over keys
    const att = matmul(t, v, transpose(t, probs, [0, 1, 3, 2])); // [B, heads, d, N]
    return linear(reshape(t, att, [B, c, h, w]), P(p.proj.weight), P(p.proj.bias));
  };

  let output: Value | undefined;
  for (const n of ir.nodes) {
    const a = vals.get(n.inputs[0]);
    if (!a) throw new Error(`ONNX training graph: ${n.op} reads undefined ${n.inputs[0]}`);
    const second = (): Value => vals.get(n.inputs[1])!;
    let y: Value;
    switch (n.op) {
      case 'conv2d':
        y = conv2d(t, a, P(n.params.weight), P(n.params.bias), { kernel: n.kernel, stride: n.stride });
        break;
      case 'linear':
        y = linear(a, P(n.params.weight), P(n.params.bias));
        break;
      case 'group_norm':
        y = groupNorm(a, n.groups, n.eps, P(n.params.weight), P(n.params.bias));
        break;
      case 'silu':
        y = silu(t, a);
        break;
      case 'add':
        y = add(t, a, second());
        break;
      case 'mul':
        y = mul(t, a, second());
        break;
      case 'timestep_embedding': {
        // Depends on t only: no gradient, plain ops.
        const freqs = t.floats([1, n.dim / 2], timestepFrequencies(n.dim, n.maxPeriod));
        const args = t.op('Mul', [reshape(t, a, [B, 1]), freqs], [B, n.dim / 2]);
        y = t.op('Concat', [t.op('Cos', [args], args.shape), t.op('Sin', [args], args.shape)], [B, n.dim], {
          attrs: { axis: 1 },
        });
        break;
      }
      case 'embedding':
        y = gatherRows(t, P(n.params.weight), a);
        break;
      case 'add_broadcast': {
        const v = second();
        y = add(t, a, reshape(t, v, [B, v.shape[1], 1, 1]));
        break;
      }
      case 'upsample_nearest_2x': {
        const [, c, h, w] = a.shape;
        const wide = expand(t, reshape(t, a, [B, c, h, 1, w, 1]), [B, c, h, 2, w, 2]);
        y = reshape(t, wide, [B, c, 2 * h, 2 * w]);
        break;
      }
      case 'concat_channels':
        y = concat(
          t,
          n.inputs.map((v) => vals.get(v)!),
          1,
        );
        break;
      case 'self_attention':
        y = attention(a, n);
        break;
      case 'dropout': {
        const mask = inputs.dropoutMasks?.get(n.output);
        y = mask ? mul(t, a, mask) : a;
        break;
      }
      case 'output':
        y = a;
        output = a;
        break;
      default:
        throw new Error(`ONNX training graph: unknown op ${(n as { op: string }).op}`);
    }
    vals.set(n.output, y);
  }
  if (!output) throw new Error('ONNX training graph: the IR has no output node');
  return output;
}
