/**
 * The model IR: an engine-independent description of a network as data. Parameters are listed once with stable
 * PyTorch-style dotted names and canonical PyTorch layouts (they become checkpoint tensor names); nodes are a small
 * set of typed ops over named values, in execution order. The tfjs engine interprets it for training, the ONNX
 * engine will translate it, and reference.ts evaluates it in float64 for tests.
 *
 * Value layouts are per sample, batch first implied: images HWC ([H, W, C]), vectors [C]. Every node records the
 * per-sample shape of its output; checkIR re-derives every shape from the ops.
 *
 * Op semantics (all engines must agree):
 * - conv2d: PyTorch nn.Conv2d(kernel, stride, padding = kernel // 2) — symmetric padding, NOT TF 'SAME' (which pads
 *   only bottom/right at stride 2). Output size floor((H + 2p - k) / s) + 1. Weight [out, in, kh, kw], bias [out].
 * - linear: y = x W^T + b over the last axis. Weight [out, in], bias [out].
 * - group_norm: PyTorch nn.GroupNorm(groups, C, eps): statistics per sample over all non-channel axes and the
 *   C / groups channels of each group (biased variance); then the per-channel affine weight [C], bias [C].
 *   On a vector [C] with groups 1 it is LayerNorm.
 * - silu: x * sigmoid(x).  add, mul: elementwise, equal shapes.
 * - timestep_embedding: sinusoidal (DDPM / ADM): half = dim / 2, freq_i = exp(-ln(maxPeriod) * i / half) for
 *   i < half, output [cos(t freq_0..half-1), sin(t freq_0..half-1)] (cos first, ADM's order). t is a float timestep.
 * - embedding: row `label` of weight [numEmbeddings, dim]; label = numEmbeddings - 1 is the null class.
 * - add_broadcast: feature map [H, W, C] + per-sample vector [C].
 * - upsample_nearest_2x: [H, W, C] -> [2H, 2W, C], each pixel repeated 2x2.
 * - concat_channels: along the last axis, in input order.
 * - self_attention: h = GroupNorm(x); [q | k | v] = h Wqkv^T + bqkv per pixel (Wqkv [3C, C]: rows 0..C-1 are q,
 *   C..2C-1 k, 2C..3C-1 v; head j owns channels j*d .. (j+1)*d - 1 of each, d = C / heads); per head
 *   softmax(q k^T / sqrt(d)) v over the H*W positions; heads concatenated; output = that Wproj^T + bproj.
 *   No residual inside: the graph adds it with an explicit `add`.
 * - dropout: identity when not training; else zero with probability rate and scale the rest by 1 / (1 - rate).
 * - output: marks the model output (one per graph).
 */
import type { ModelConfig } from './config.ts';
import { buildMlpIR } from './mlp-ir.ts';
import { buildUNetIR } from './unet-ir.ts';

/** How a tensor is laid out, so engines know how to convert it (conv OIHW, linear [out, in], ...). */
export type ParamLayout = 'conv2d' | 'linear' | 'embedding' | 'vector';

/** Initial values: engine-independent recipes (init.ts draws them). */
export type ParamInit =
  { kind: 'uniform'; bound: number } | { kind: 'normal'; std: number } | { kind: 'zeros' } | { kind: 'ones' };

export interface ParamSpec {
  /** Stable dotted name, e.g. `down.0.res.0.conv1.weight`. Never renamed once defined. */
  name: string;
  /** Canonical PyTorch shape: conv [out, in, kh, kw], linear [out, in], embedding [rows, dim], vectors [C]. */
  shape: number[];
  layout: ParamLayout;
  init: ParamInit;
}

interface NodeBase {
  /** Names of the values the node reads, in op order. */
  inputs: string[];
  /** Name of the value it defines (unique). */
  output: string;
  /** Per-sample output shape. */
  shape: number[];
}

export interface AffineParams {
  weight: string;
  bias: string;
}

export type IrNode =
  | (NodeBase & { op: 'conv2d'; kernel: 1 | 3; stride: 1 | 2; params: AffineParams })
  | (NodeBase & { op: 'linear'; params: AffineParams })
  | (NodeBase & { op: 'group_norm'; groups: number; eps: number; params: AffineParams })
  | (NodeBase & { op: 'silu' })
  | (NodeBase & { op: 'add' })
  | (NodeBase & { op: 'mul' })
  | (NodeBase & { op: 'timestep_embedding'; dim: number; maxPeriod: number })
  | (NodeBase & { op: 'embedding'; params: { weight: string } })
  | (NodeBase & { op: 'add_broadcast' })
  | (NodeBase & { op: 'upsample_nearest_2x' })
  | (NodeBase & { op: 'concat_channels' })
  | (NodeBase & {
      op: 'self_attention';
      heads: number;
      groups: number;
      eps: number;
      params: { norm: AffineParams; qkv: AffineParams; proj: AffineParams };
    })
  | (NodeBase & { op: 'dropout'; rate: number })
  | (NodeBase & { op: 'output' });

export type IrOp = IrNode['op'];

export const IR_OPS: readonly IrOp[] = [
  'conv2d',
  'linear',
  'group_norm',
  'silu',
  'add',
  'mul',
  'timestep_embedding',
  'embedding',
  'add_broadcast',
  'upsample_nearest_2x',
  'concat_channels',
  'self_attention',
  'dropout',
  'output',
];

export interface ModelIR {
  config: ModelConfig;
  /**
   * Graph inputs (values named 'x', 't', 'label'). x: per-sample shape (HWC for images); t: one float timestep per
   * sample; label: one int32 class per sample, present only when the model is class-conditional (numClasses is the
   * null class).
   */
  inputs: { x: { shape: number[] }; t: Record<string, never>; label?: { numClasses: number } };
  /** Channels of the output (last axis): C, or 2C with learned variance ([prediction | v]). */
  outputChannels: number;
  params: ParamSpec[];
  nodes: IrNode[];
}

/** The IR of a config (validated). */
export function buildIR(config: ModelConfig): ModelIR {
  const ir = config.kind === 'unet' ? buildUNetIR(config) : buildMlpIR(config);
  checkIR(ir);
  return ir;
}

/** Number of scalar parameters of a config. */
export function paramCount(config: ModelConfig | ModelIR): number {
  const ir = 'nodes' in config ? config : buildIR(config);
  return ir.params.reduce((n, p) => n + numel(p.shape), 0);
}

export function numel(shape: readonly number[]): number {
  return shape.reduce((a, b) => a * b, 1);
}

/** Parameter names a node reads, in a fixed order. */
export function nodeParams(node: IrNode): string[] {
  if (!('params' in node)) return [];
  if (node.op === 'self_attention') {
    const p = node.params;
    return [p.norm.weight, p.norm.bias, p.qkv.weight, p.qkv.bias, p.proj.weight, p.proj.bias];
  }
  return Object.values(node.params);
}

/** The output node's input value (the model output). */
export function outputNode(ir: ModelIR): IrNode & { op: 'output' } {
  const outs = ir.nodes.filter((n) => n.op === 'output');
  if (outs.length !== 1) throw new Error(`IR must have exactly one output node, has ${outs.length}`);
  return outs[0] as IrNode & { op: 'output' };
}

function eqShape(a: readonly number[], b: readonly number[]): boolean {
  return a.length === b.length && a.every((v, i) => v === b[i]);
}

const fmt = (s: readonly number[]): string => `[${s.join(', ')}]`;

/**
 * Shape inference from the ops alone: checks that every node reads defined values, that parameters exist with the
 * shapes the op implies and are each used, and that every recorded shape is what the op produces. Throws on the
 * first inconsistency; returns the per-sample shape of every value.
 */
export function checkIR(ir: ModelIR): Map<string, number[]> {
  const shapes = new Map<string, number[]>();
  shapes.set('x', ir.inputs.x.shape);
  shapes.set('t', []);
  if (ir.inputs.label) shapes.set('label', []);
  const params = new Map(ir.params.map((p) => [p.name, p]));
  if (params.size !== ir.params.length) throw new Error('duplicate parameter names');
  const used = new Set<string>();
  const fail = (n: IrNode, msg: string): never => {
    throw new Error(`IR node ${n.op} -> ${n.output}: ${msg}`);
  };
  const param = (n: IrNode, name: string, shape: number[]): void => {
    const p = params.get(name);
    if (!p) fail(n, `unknown parameter ${name}`);
    else if (!eqShape(p.shape, shape)) fail(n, `parameter ${name} has shape ${fmt(p.shape)}, op needs ${fmt(shape)}`);
    used.add(name);
  };
  for (const n of ir.nodes) {
    const ins = n.inputs.map((v) => shapes.get(v) ?? fail(n, `reads undefined value "${v}"`));
    if (shapes.has(n.output)) fail(n, `redefines value "${n.output}"`);
    const a = ins[0];
    const channels = (s: number[]): number => s[s.length - 1];
    let out: number[];
    switch (n.op) {
      case 'conv2d': {
        if (a.length !== 3) fail(n, `needs an HWC input, got ${fmt(a)}`);
        const [h, w, cin] = a;
        const cout = n.shape[2];
        const p = n.kernel >> 1;
        const o = (d: number): number => Math.floor((d + 2 * p - n.kernel) / n.stride) + 1;
        param(n, n.params.weight, [cout, cin, n.kernel, n.kernel]);
        param(n, n.params.bias, [cout]);
        out = [o(h), o(w), cout];
        break;
      }
      case 'linear': {
        const fout = channels(n.shape);
        param(n, n.params.weight, [fout, channels(a)]);
        param(n, n.params.bias, [fout]);
        out = [...a.slice(0, -1), fout];
        break;
      }
      case 'group_norm':
        if (channels(a) % n.groups !== 0) fail(n, `channels ${channels(a)} not divisible by ${n.groups} groups`);
        param(n, n.params.weight, [channels(a)]);
        param(n, n.params.bias, [channels(a)]);
        out = a;
        break;
      case 'silu':
      case 'dropout':
      case 'output':
        out = a;
        break;
      case 'add':
      case 'mul':
        if (!eqShape(a, ins[1])) fail(n, `shapes ${fmt(a)} and ${fmt(ins[1])} differ`);
        out = a;
        break;
      case 'timestep_embedding':
        if (a.length !== 0) fail(n, 'reads a scalar per sample');
        if (n.dim % 2 !== 0) fail(n, `dim ${n.dim} must be even`);
        out = [n.dim];
        break;
      case 'embedding': {
        if (a.length !== 0) fail(n, 'reads a scalar label per sample');
        const p = params.get(n.params.weight) ?? fail(n, `unknown parameter ${n.params.weight}`);
        param(n, n.params.weight, [p.shape[0], channels(n.shape)]);
        out = [p.shape[1]];
        break;
      }
      case 'add_broadcast':
        if (a.length !== 3 || ins[1].length !== 1 || ins[1][0] !== a[2]) {
          fail(n, `needs [H, W, C] + [C], got ${fmt(a)} + ${fmt(ins[1])}`);
        }
        out = a;
        break;
      case 'upsample_nearest_2x':
        if (a.length !== 3) fail(n, `needs an HWC input, got ${fmt(a)}`);
        out = [2 * a[0], 2 * a[1], a[2]];
        break;
      case 'concat_channels':
        for (const s of ins) {
          if (!eqShape(s.slice(0, -1), a.slice(0, -1))) fail(n, `cannot concat ${fmt(a)} and ${fmt(s)}`);
        }
        out = [...a.slice(0, -1), ins.reduce((c, s) => c + channels(s), 0)];
        break;
      case 'self_attention': {
        const c = channels(a);
        if (a.length !== 3) fail(n, `needs an HWC input, got ${fmt(a)}`);
        if (c % n.heads !== 0) fail(n, `channels ${c} not divisible by ${n.heads} heads`);
        if (c % n.groups !== 0) fail(n, `channels ${c} not divisible by ${n.groups} groups`);
        const p = n.params;
        param(n, p.norm.weight, [c]);
        param(n, p.norm.bias, [c]);
        param(n, p.qkv.weight, [3 * c, c]);
        param(n, p.qkv.bias, [3 * c]);
        param(n, p.proj.weight, [c, c]);
        param(n, p.proj.bias, [c]);
        out = a;
        break;
      }
      default:
        out = fail(n as IrNode, 'unknown op');
    }
    if (!eqShape(out, n.shape)) fail(n, `records shape ${fmt(n.shape)}, op gives ${fmt(out)}`);
    shapes.set(n.output, out);
  }
  const unused = ir.params.filter((p) => !used.has(p.name)).map((p) => p.name);
  if (unused.length > 0) throw new Error(`unused parameters: ${unused.join(', ')}`);
  const out = outputNode(ir);
  const expected = [...ir.inputs.x.shape.slice(0, -1), ir.outputChannels];
  if (!eqShape(out.shape, expected)) throw new Error(`output shape ${fmt(out.shape)}, expected ${fmt(expected)}`);
  return shapes;
}
