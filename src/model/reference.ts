/**
 * A float64 reference interpreter of the IR: naive loops straight from the op definitions in ir.ts, reading the
 * canonical (PyTorch) parameter layouts directly. Slow; it exists so that every engine (tfjs now, ONNX later) can be
 * checked against one independent, obviously-correct implementation. Inference only (dropout is the identity).
 *
 * Arrays are batch-first and flat: a value of per-sample shape [H, W, C] is B * H * W * C numbers, HWC.
 */
import { numel, type ModelIR } from './ir.ts';

type Arr = Float32Array | Float64Array;

/** nn.Conv2d(cin, cout, k, stride, padding = k // 2) on NHWC x; w is [cout, cin, k, k]. */
export function refConv2d(
  x: Arr,
  shape: readonly [number, number, number, number],
  w: Arr,
  bias: Arr,
  cout: number,
  kernel: number,
  stride: number,
): { y: Float64Array; shape: [number, number, number, number] } {
  const [B, H, W, C] = shape;
  const p = kernel >> 1;
  const OH = Math.floor((H + 2 * p - kernel) / stride) + 1;
  const OW = Math.floor((W + 2 * p - kernel) / stride) + 1;
  const y = new Float64Array(B * OH * OW * cout);
  for (let b = 0; b < B; b++)
    for (let oh = 0; oh < OH; oh++)
      for (let ow = 0; ow < OW; ow++)
        for (let o = 0; o < cout; o++) {
          let s = bias[o];
          for (let kh = 0; kh < kernel; kh++) {
            const ih = oh * stride + kh - p;
            if (ih < 0 || ih >= H) continue;
            for (let kw = 0; kw < kernel; kw++) {
              const iw = ow * stride + kw - p;
              if (iw < 0 || iw >= W) continue;
              const xo = ((b * H + ih) * W + iw) * C;
              for (let i = 0; i < C; i++) s += x[xo + i] * w[((o * C + i) * kernel + kh) * kernel + kw];
            }
          }
          y[((b * OH + oh) * OW + ow) * cout + o] = s;
        }
  return { y, shape: [B, OH, OW, cout] };
}

/** y = x W^T + b over rows of `fin` values; w is [fout, fin]. */
export function refLinear(x: Arr, rows: number, fin: number, w: Arr, bias: Arr, fout: number): Float64Array {
  const y = new Float64Array(rows * fout);
  for (let r = 0; r < rows; r++)
    for (let o = 0; o < fout; o++) {
      let s = bias[o];
      for (let i = 0; i < fin; i++) s += x[r * fin + i] * w[o * fin + i];
      y[r * fout + o] = s;
    }
  return y;
}

/** nn.GroupNorm over B samples of `positions` x C values (channels last). */
export function refGroupNorm(
  x: Arr,
  B: number,
  positions: number,
  C: number,
  groups: number,
  eps: number,
  w: Arr,
  bias: Arr,
): Float64Array {
  const y = new Float64Array(B * positions * C);
  const cg = C / groups;
  for (let b = 0; b < B; b++)
    for (let g = 0; g < groups; g++) {
      let mean = 0;
      for (let p = 0; p < positions; p++) for (let k = 0; k < cg; k++) mean += x[(b * positions + p) * C + g * cg + k];
      mean /= positions * cg;
      let v = 0;
      for (let p = 0; p < positions; p++)
        for (let k = 0; k < cg; k++) v += (x[(b * positions + p) * C + g * cg + k] - mean) ** 2;
      const inv = 1 / Math.sqrt(v / (positions * cg) + eps);
      for (let p = 0; p < positions; p++)
        for (let k = 0; k < cg; k++) {
          const c = g * cg + k;
          const i = (b * positions + p) * C + c;
          y[i] = (x[i] - mean) * inv * w[c] + bias[c];
        }
    }
  return y;
}

export function refSilu(x: Arr): Float64Array {
  return Float64Array.from(x, (v) => v / (1 + Math.exp(-v)));
}

/** [cos(t f_i), sin(t f_i)], f_i = exp(-ln(maxPeriod) i / (dim / 2)). */
export function refTimestepEmbedding(t: Arr, dim: number, maxPeriod = 10000): Float64Array {
  const half = dim / 2;
  const y = new Float64Array(t.length * dim);
  for (let b = 0; b < t.length; b++)
    for (let i = 0; i < half; i++) {
      const a = t[b] * Math.exp((-Math.log(maxPeriod) * i) / half);
      y[b * dim + i] = Math.cos(a);
      y[b * dim + half + i] = Math.sin(a);
    }
  return y;
}

export function refUpsample2x(x: Arr, B: number, H: number, W: number, C: number): Float64Array {
  const y = new Float64Array(B * 4 * H * W * C);
  for (let b = 0; b < B; b++)
    for (let h = 0; h < 2 * H; h++)
      for (let w = 0; w < 2 * W; w++)
        for (let c = 0; c < C; c++)
          y[((b * 2 * H + h) * 2 * W + w) * C + c] = x[((b * H + (h >> 1)) * W + (w >> 1)) * C + c];
  return y;
}

/** Concatenate along the last axis: parts[k] has rows x channels[k] values. */
export function refConcat(parts: Arr[], rows: number, channels: number[]): Float64Array {
  const total = channels.reduce((a, b) => a + b, 0);
  const y = new Float64Array(rows * total);
  for (let r = 0; r < rows; r++) {
    let off = 0;
    parts.forEach((p, k) => {
      for (let c = 0; c < channels[k]; c++) y[r * total + off + c] = p[r * channels[k] + c];
      off += channels[k];
    });
  }
  return y;
}

/** The self_attention op (no residual) on B samples of N positions x C channels. */
export function refSelfAttention(
  x: Arr,
  B: number,
  N: number,
  C: number,
  heads: number,
  groups: number,
  eps: number,
  p: { normW: Arr; normB: Arr; qkvW: Arr; qkvB: Arr; projW: Arr; projB: Arr },
): Float64Array {
  const h = refGroupNorm(x, B, N, C, groups, eps, p.normW, p.normB);
  const qkv = refLinear(h, B * N, C, p.qkvW, p.qkvB, 3 * C);
  const d = C / heads;
  const att = new Float64Array(B * N * C);
  const scores = new Float64Array(N);
  for (let b = 0; b < B; b++)
    for (let hd = 0; hd < heads; hd++)
      for (let i = 0; i < N; i++) {
        let max = -Infinity;
        for (let j = 0; j < N; j++) {
          let s = 0;
          for (let k = 0; k < d; k++)
            s += qkv[(b * N + i) * 3 * C + hd * d + k] * qkv[(b * N + j) * 3 * C + C + hd * d + k];
          scores[j] = s / Math.sqrt(d);
          max = Math.max(max, scores[j]);
        }
        let z = 0;
        for (let j = 0; j < N; j++) z += scores[j] = Math.exp(scores[j] - max);
        for (let k = 0; k < d; k++) {
          let s = 0;
          for (let j = 0; j < N; j++) s += scores[j] * qkv[(b * N + j) * 3 * C + 2 * C + hd * d + k];
          att[(b * N + i) * C + hd * d + k] = s / z;
        }
      }
  return refLinear(att, B * N, C, p.projW, p.projB, C);
}

/**
 * Evaluates the IR on a batch in float64. x: B * prod(inputs.x.shape) values (HWC); t: B timesteps; labels: B class
 * indices (negative or numClasses = null class), or null for the null class everywhere. Returns B * prod(output
 * shape) values.
 */
export function runReference(
  ir: ModelIR,
  params: ReadonlyMap<string, Arr>,
  x: Arr,
  t: Arr,
  labels: Int32Array | null,
): Float64Array {
  const B = t.length;
  const vals = new Map<string, Float64Array>();
  const shapes = new Map<string, number[]>();
  const P = (name: string): Arr => {
    const v = params.get(name);
    if (!v) throw new Error(`missing parameter ${name}`);
    return v;
  };
  vals.set('x', Float64Array.from(x));
  shapes.set('x', ir.inputs.x.shape);
  vals.set('t', Float64Array.from(t));
  if (ir.inputs.label) {
    const n = ir.inputs.label.numClasses;
    vals.set(
      'label',
      Float64Array.from({ length: B }, (_, b) => (labels === null || labels[b] < 0 ? n : labels[b])),
    );
  }
  for (const node of ir.nodes) {
    const a = vals.get(node.inputs[0]) as Float64Array;
    const s = shapes.get(node.inputs[0]) ?? [];
    const C = s[s.length - 1];
    const positions = numel(s.slice(0, -1));
    let y: Float64Array;
    switch (node.op) {
      case 'conv2d':
        y = refConv2d(
          a,
          [B, s[0], s[1], s[2]],
          P(node.params.weight),
          P(node.params.bias),
          node.shape[2],
          node.kernel,
          node.stride,
        ).y;
        break;
      case 'linear':
        y = refLinear(
          a,
          B * positions,
          C,
          P(node.params.weight),
          P(node.params.bias),
          node.shape[node.shape.length - 1],
        );
        break;
      case 'group_norm':
        y = refGroupNorm(a, B, positions, C, node.groups, node.eps, P(node.params.weight), P(node.params.bias));
        break;
      case 'silu':
        y = refSilu(a);
        break;
      case 'add':
      case 'mul': {
        const b2 = vals.get(node.inputs[1]) as Float64Array;
        y = node.op === 'add' ? a.map((v, i) => v + b2[i]) : a.map((v, i) => v * b2[i]);
        break;
      }
      case 'timestep_embedding':
        y = refTimestepEmbedding(a, node.dim, node.maxPeriod);
        break;
      case 'embedding': {
        const table = P(node.params.weight);
        const dim = node.shape[0];
        y = new Float64Array(B * dim);
        for (let b = 0; b < B; b++) for (let k = 0; k < dim; k++) y[b * dim + k] = table[a[b] * dim + k];
        break;
      }
      case 'add_broadcast': {
        const v = vals.get(node.inputs[1]) as Float64Array;
        y = a.map((val, i) => val + v[Math.floor(i / (positions * C)) * C + (i % C)]);
        break;
      }
      case 'upsample_nearest_2x':
        y = refUpsample2x(a, B, s[0], s[1], s[2]);
        break;
      case 'concat_channels': {
        const chans = node.inputs.map((v) => {
          const sh = shapes.get(v) as number[];
          return sh[sh.length - 1];
        });
        y = refConcat(
          node.inputs.map((v) => vals.get(v) as Float64Array),
          B * positions,
          chans,
        );
        break;
      }
      case 'self_attention': {
        const p = node.params;
        y = refSelfAttention(a, B, positions, C, node.heads, node.groups, node.eps, {
          normW: P(p.norm.weight),
          normB: P(p.norm.bias),
          qkvW: P(p.qkv.weight),
          qkvB: P(p.qkv.bias),
          projW: P(p.proj.weight),
          projB: P(p.proj.bias),
        });
        break;
      }
      case 'dropout':
      case 'output':
        y = a;
        break;
      default:
        throw new Error(`reference: unknown op ${(node as { op: string }).op}`);
    }
    vals.set(node.output, y);
    shapes.set(node.output, node.shape);
  }
  return vals.get('out') as Float64Array;
}
