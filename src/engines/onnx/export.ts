/**
 * ModelIR + canonical (PyTorch-layout) parameters -> ONNX ModelProto bytes, opset 17, with exactly the op semantics
 * of ir.ts (the tfjs engine's and the float64 reference's).
 *
 * Graph interface (shared by every engine): inputs x [B, H, W, C] float32 (NHWC, the sample layout; vectors [B, D]),
 * t [B] float32 timesteps, label [B] int64 when conditional (negative or numClasses = the null class); output `out`
 * [B, H, W, outputChannels] (or [B, outputChannels]) exactly as TfjsModel.apply returns. Inside, images are NCHW
 * (what every ONNX runtime's Conv expects): one Transpose at each end. Weights are initializers in their canonical
 * layout: conv OIHW is ONNX's own layout, and linear [out, in] is Gemm with transB = 1, so nothing is permuted.
 */
import type { Prediction } from '../../core/parameterization.ts';
import { numel, paramCount, type IrNode, type ModelIR } from '../../model/ir.ts';
import { timestepFrequencies } from '../tfjs/ops.ts';
import {
  AttributeType,
  DataType,
  encodeModel,
  IR_VERSION,
  valueInfo,
  type AttributeJson,
  type NodeJson,
  type TensorJson,
} from './onnx-proto.ts';

export const ONNX_OPSET = 17;

/** What a sampler needs to know besides the network, stored in metadata_props (all values are strings). */
export interface OnnxExportInfo {
  prediction: Prediction;
  /** Named beta schedule and its number of timesteps (t runs over 0 .. timesteps - 1). */
  schedule: string;
  timesteps: number;
  /** Training step of the weights. */
  step?: number;
  /** Raw or EMA weights. */
  ema?: boolean;
  /** Free-form extras (run id, checkpoint id, dataset), written as given. */
  extra?: Record<string, string>;
}

/** metadata_props keys written by exportOnnx. */
export const META = {
  prediction: 'diffusion_studio.prediction',
  schedule: 'diffusion_studio.schedule',
  timesteps: 'diffusion_studio.timesteps',
  numClasses: 'diffusion_studio.num_classes',
  learnedVariance: 'diffusion_studio.learned_variance',
  step: 'diffusion_studio.step',
  ema: 'diffusion_studio.ema',
  paramCount: 'diffusion_studio.param_count',
  inputShape: 'diffusion_studio.input_shape',
  modelConfig: 'diffusion_studio.model_config',
} as const;

type Attr = number | string | number[] | { floats: number[] };

function attribute(name: string, v: Attr): AttributeJson {
  if (typeof v === 'number') return { name, type: AttributeType.INT, i: v };
  if (typeof v === 'string') return { name, type: AttributeType.STRING, s: new TextEncoder().encode(v) };
  if (Array.isArray(v)) return { name, type: AttributeType.INTS, ints: v };
  return { name, type: AttributeType.FLOATS, floats: v.floats };
}

function floatAttr(name: string, f: number): AttributeJson {
  return { name, type: AttributeType.FLOAT, f };
}

function bytesOf(a: Float32Array | BigInt64Array): Uint8Array {
  // ONNX raw_data is little-endian; so is every platform onnxruntime-node ships for.
  return new Uint8Array(a.buffer.slice(a.byteOffset, a.byteOffset + a.byteLength));
}

/** Emits nodes and initializers with unique names. */
class OnnxGraph {
  readonly nodes: NodeJson[] = [];
  readonly initializers: TensorJson[] = [];
  private count = 0;
  private readonly constants = new Map<string, string>();

  node(opType: string, inputs: string[], attrs: (AttributeJson | null)[] = [], hint = opType): string {
    const out = `${hint}_${this.count++}`;
    const attribute = attrs.filter((a): a is AttributeJson => a !== null);
    this.nodes.push({ opType, input: inputs, output: [out], name: out, attribute });
    return out;
  }

  /** Several outputs (Split). */
  nodeN(opType: string, inputs: string[], n: number, attrs: AttributeJson[] = []): string[] {
    const base = `${opType}_${this.count++}`;
    const outs = Array.from({ length: n }, (_, i) => `${base}:${i}`);
    this.nodes.push({ opType, input: inputs, output: outs, name: base, attribute: attrs });
    return outs;
  }

  /** A named float initializer. */
  tensor(name: string, dims: number[], data: Float32Array): string {
    if (data.length !== numel(dims)) throw new RangeError(`${name}: ${data.length} values for [${dims.join(', ')}]`);
    this.initializers.push({ name, dims, dataType: DataType.FLOAT, rawData: bytesOf(data) });
    return name;
  }

  /** A shared int64 constant initializer (shapes, axes, perms). */
  ints(values: number[]): string {
    const key = `i64:${values.join(',')}`;
    let name = this.constants.get(key);
    if (!name) {
      name = `const_${this.constants.size}`;
      const data = BigInt64Array.from(values.map(BigInt));
      this.initializers.push({ name, dims: [values.length], dataType: DataType.INT64, rawData: bytesOf(data) });
      this.constants.set(key, name);
    }
    return name;
  }

  /** A shared float constant initializer of the given shape. */
  floats(dims: number[], values: Float32Array): string {
    const key = `f32:${dims.join('x')}:${Array.from(values).join(',')}`;
    let name = this.constants.get(key);
    if (!name) {
      name = `const_${this.constants.size}`;
      this.tensor(name, dims, values);
      this.constants.set(key, name);
    }
    return name;
  }

  scalar(v: number): string {
    return this.floats([], Float32Array.of(v));
  }

  reshape(x: string, shape: number[]): string {
    return this.node('Reshape', [x, this.ints(shape)]);
  }

  transpose(x: string, perm: number[]): string {
    return this.node('Transpose', [x], [attribute('perm', perm)]);
  }
}

/**
 * The ONNX model of an IR with the given canonical parameters (every IR parameter, exact sizes; extras throw).
 * Deterministic: the same IR, weights and info give the same bytes.
 */
export function exportOnnx(ir: ModelIR, params: ReadonlyMap<string, Float32Array>, info: OnnxExportInfo): Uint8Array {
  const specs = new Map(ir.params.map((p) => [p.name, p]));
  for (const name of params.keys()) if (!specs.has(name)) throw new RangeError(`unknown parameter ${name}`);
  const g = new OnnxGraph();
  const P = (name: string): string => name;
  for (const spec of ir.params) {
    const data = params.get(spec.name);
    if (!data) throw new RangeError(`missing parameter ${spec.name}`);
    g.tensor(spec.name, spec.shape, data);
  }

  const xShape = ir.inputs.x.shape;
  const image = xShape.length === 3;
  // Per-sample shapes of IR values, to tell images (NCHW here) from vectors and to write static reshapes.
  const shapes = new Map<string, number[]>([
    ['x', xShape],
    ['t', []],
  ]);
  const vals = new Map<string, string>();
  vals.set('x', image ? g.transpose('x', [0, 3, 1, 2]) : 'x');
  vals.set('t', 't');
  if (ir.inputs.label) {
    // Negative labels mean the null class (as in TfjsModel.apply); ONNX Gather would wrap them from the end.
    const n = ir.inputs.label.numClasses;
    const negative = g.node('Less', ['label', g.ints([0])]);
    vals.set('label', g.node('Where', [negative, g.ints([n]), 'label'], [], 'label_or_null'));
    shapes.set('label', []);
  }

  /** GroupNorm over [B, C, ...] (C = channels): InstanceNormalization over [B, groups, rest], then the affine. */
  const groupNorm = (x: string, shape: number[], groups: number, eps: number, w: string, b: string): string => {
    const c = shape[shape.length - 1];
    const grouped = g.reshape(x, [0, groups, -1]);
    const ones = g.floats([groups], new Float32Array(groups).fill(1));
    const zeros = g.floats([groups], new Float32Array(groups));
    const normed = g.node('InstanceNormalization', [grouped, ones, zeros], [floatAttr('epsilon', eps)]);
    const back = g.reshape(normed, shape.length === 3 ? [0, c, shape[0], shape[1]] : [0, c]);
    const affineShape = shape.length === 3 ? [c, 1, 1] : [c];
    return g.node('Add', [g.node('Mul', [back, g.reshape(w, affineShape)]), g.reshape(b, affineShape)]);
  };

  const conv = (x: string, w: string, b: string, kernel: number, stride: number): string => {
    const p = kernel >> 1;
    return g.node(
      'Conv',
      [x, w, b],
      [
        attribute('kernel_shape', [kernel, kernel]),
        attribute('strides', [stride, stride]),
        attribute('pads', [p, p, p, p]),
      ],
    );
  };

  /** Linear over channels: Gemm on vectors [B, C]; on NCHW maps a 1x1 Conv with the weight viewed as [out, in, 1, 1]. */
  const linear = (x: string, inShape: number[], w: string, b: string): string => {
    if (inShape.length === 1) return g.node('Gemm', [x, w, b], [attribute('transB', 1)]);
    if (inShape.length !== 3)
      throw new Error(`ONNX export: linear over rank-${inShape.length} values is not supported`);
    const [fout, fin] = specs.get(w)!.shape;
    return conv(x, g.reshape(w, [fout, fin, 1, 1]), b, 1, 1);
  };

  const silu = (x: string): string => g.node('Mul', [x, g.node('Sigmoid', [x])]);

  const attention = (x: string, shape: number[], n: IrNode & { op: 'self_attention' }): string => {
    const [h, w, c] = shape;
    const heads = n.heads;
    const d = c / heads;
    const p = n.params;
    const hn = groupNorm(x, shape, n.groups, n.eps, p.norm.weight, p.norm.bias);
    const qkv = linear(hn, shape, p.qkv.weight, p.qkv.bias); // [B, 3C, H, W]: channel s*C + j*d + e
    const split = g.reshape(qkv, [0, 3 * heads, d, h * w]);
    const [q, k, v] = g.nodeN('Split', [split, g.ints([heads, heads, heads])], 3, [attribute('axis', 1)]);
    // q, k, v: [B, heads, d, N]. scores[n, m] = q_n . k_m / sqrt(d), softmax over m.
    const scores = g.node('MatMul', [g.transpose(q, [0, 1, 3, 2]), k]);
    const probs = g.node('Softmax', [g.node('Mul', [scores, g.scalar(1 / Math.sqrt(d))])], [attribute('axis', -1)]);
    // out[e, n] = sum_m v[e, m] probs[n, m]
    const att = g.node('MatMul', [v, g.transpose(probs, [0, 1, 3, 2])]); // [B, heads, d, N]
    const merged = g.reshape(att, [0, c, h, w]); // heads concatenated: channel j*d + e
    return linear(merged, shape, p.proj.weight, p.proj.bias);
  };

  let output: string | undefined;
  for (const n of ir.nodes) {
    const a = vals.get(n.inputs[0]);
    const aShape = shapes.get(n.inputs[0]);
    if (a === undefined || aShape === undefined) throw new Error(`ONNX export: ${n.op} reads undefined ${n.inputs[0]}`);
    let y: string;
    switch (n.op) {
      case 'conv2d':
        y = conv(a, P(n.params.weight), P(n.params.bias), n.kernel, n.stride);
        break;
      case 'linear':
        y = linear(a, aShape, n.params.weight, n.params.bias);
        break;
      case 'group_norm':
        y = groupNorm(a, aShape, n.groups, n.eps, n.params.weight, n.params.bias);
        break;
      case 'silu':
        y = silu(a);
        break;
      case 'add':
        y = g.node('Add', [a, vals.get(n.inputs[1])!]);
        break;
      case 'mul':
        y = g.node('Mul', [a, vals.get(n.inputs[1])!]);
        break;
      case 'timestep_embedding': {
        const freqs = g.floats([1, n.dim / 2], timestepFrequencies(n.dim, n.maxPeriod));
        const args = g.node('Mul', [g.node('Unsqueeze', [a, g.ints([1])]), freqs]);
        y = g.node('Concat', [g.node('Cos', [args]), g.node('Sin', [args])], [attribute('axis', 1)]);
        break;
      }
      case 'embedding':
        y = g.node('Gather', [n.params.weight, a], [attribute('axis', 0)]);
        break;
      case 'add_broadcast':
        y = g.node('Add', [a, g.node('Unsqueeze', [vals.get(n.inputs[1])!, g.ints([2, 3])])]);
        break;
      case 'upsample_nearest_2x': {
        // Exact repeat of every pixel 2x2: [B, C, H, 1, W, 1] broadcast to [B, C, H, 2, W, 2].
        const [h, w, c] = aShape;
        const wide = g.node('Expand', [g.reshape(a, [0, c, h, 1, w, 1]), g.ints([1, 1, 1, 2, 1, 2])]);
        y = g.reshape(wide, [0, c, 2 * h, 2 * w]);
        break;
      }
      case 'concat_channels':
        y = g.node(
          'Concat',
          n.inputs.map((v) => vals.get(v)!),
          [attribute('axis', 1)],
        );
        break;
      case 'self_attention':
        y = attention(a, aShape, n);
        break;
      case 'dropout':
        y = a; // inference only
        break;
      case 'output':
        y = a;
        output = a;
        break;
      default:
        throw new Error(`ONNX export: unknown op ${(n as { op: string }).op}`);
    }
    vals.set(n.output, y);
    shapes.set(n.output, n.shape);
  }
  if (output === undefined) throw new Error('ONNX export: the IR has no output node');
  // The graph output needs its own name: an Identity (or the NHWC transpose) named `out`.
  g.nodes.push({
    opType: image ? 'Transpose' : 'Identity',
    input: [output],
    output: ['out'],
    name: 'out',
    attribute: image ? [attribute('perm', [0, 2, 3, 1])] : [],
  });

  const inputs = [valueInfo('x', DataType.FLOAT, ['batch', ...xShape]), valueInfo('t', DataType.FLOAT, ['batch'])];
  if (ir.inputs.label) inputs.push(valueInfo('label', DataType.INT64, ['batch']));
  const outShape = [...xShape.slice(0, -1), ir.outputChannels];
  const c = xShape[xShape.length - 1];
  const numClasses = ir.inputs.label?.numClasses ?? 0;
  const meta: Record<string, string> = {
    [META.prediction]: info.prediction,
    [META.schedule]: info.schedule,
    [META.timesteps]: String(info.timesteps),
    [META.numClasses]: String(numClasses),
    [META.learnedVariance]: String(ir.outputChannels === 2 * c),
    [META.paramCount]: String(paramCount(ir)),
    [META.inputShape]: JSON.stringify(xShape),
    [META.modelConfig]: JSON.stringify(ir.config),
    ...(info.step !== undefined ? { [META.step]: String(info.step) } : {}),
    ...(info.ema !== undefined ? { [META.ema]: String(info.ema) } : {}),
    ...info.extra,
  };
  return encodeModel({
    irVersion: IR_VERSION,
    producerName: 'diffusion-studio',
    producerVersion: '0.1.0',
    docString: `${ir.config.kind} denoiser: x [batch, ${xShape.join(', ')}] NHWC, t [batch]${numClasses > 0 ? ', label [batch] (negative or ' + numClasses + ' = null class)' : ''} -> out [batch, ${outShape.join(', ')}]`,
    graph: {
      name: `diffusion_studio_${ir.config.kind}`,
      node: g.nodes,
      initializer: g.initializers,
      input: inputs,
      output: [valueInfo('out', DataType.FLOAT, ['batch', ...outShape])],
    },
    opsetImport: [{ domain: '', version: ONNX_OPSET }],
    metadataProps: Object.entries(meta).map(([key, value]) => ({ key, value })),
  });
}
