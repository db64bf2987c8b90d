/**
 * A ModelIR interpreted by tfjs: one tf.Variable per IR parameter (tfjs layout), and apply() walking the nodes in
 * order. Parameters enter and leave in the canonical PyTorch layout (ir.ts), so checkpoints never see tfjs layouts.
 *
 * Layouts: conv OIHW [out, in, kh, kw] <-> HWIO [kh, kw, in, out]; linear [out, in] <-> [in, out]; embeddings and
 * vectors unchanged. Tensors are batch-first, images NHWC.
 */
import * as tf from '@tensorflow/tfjs';
import type { VpModel } from '../../core/parameterization.ts';
import { numel, type ModelIR, type ParamSpec } from '../../model/ir.ts';
import { defaultGradMode, type GradMode } from './grad-mode.ts';
import * as ops from './ops.ts';

export interface ApplyOptions {
  /** Training mode: dropout active. */
  training: boolean;
  /**
   * Seed of the dropout masks (required when training a model with dropout). Node i's mask comes from
   * tf.randomUniform seeded with `${dropoutSeed}:${i}`, so the same seed, batch and shapes give the same masks on
   * every backend and after a resume. Derive it from the run seed and the step.
   */
  dropoutSeed?: number;
  /** Gradient implementation of the heavy ops (grad-mode.ts); default: per backend (defaultGradMode). */
  gradMode?: GradMode;
}

/** Shape and values of a parameter in tfjs layout, from the canonical layout. */
export function toTfjsLayout(spec: ParamSpec, data: Float32Array): { shape: number[]; data: Float32Array } {
  const s = spec.shape;
  if (data.length !== numel(s)) {
    throw new RangeError(`parameter ${spec.name}: ${data.length} values, shape [${s.join(', ')}] needs ${numel(s)}`);
  }
  if (spec.layout === 'conv2d') {
    const [o, i, kh, kw] = s;
    const out = new Float32Array(data.length);
    for (let a = 0; a < o; a++)
      for (let b = 0; b < i; b++)
        for (let y = 0; y < kh; y++)
          for (let x = 0; x < kw; x++) out[((y * kw + x) * i + b) * o + a] = data[((a * i + b) * kh + y) * kw + x];
    return { shape: [kh, kw, i, o], data: out };
  }
  if (spec.layout === 'linear') return { shape: [s[1], s[0]], data: transpose2d(data, s[0], s[1]) };
  return { shape: s.slice(), data: data.slice() };
}

/** The canonical layout of a parameter from its tfjs-layout values. */
export function fromTfjsLayout(spec: ParamSpec, data: Float32Array): Float32Array {
  const s = spec.shape;
  if (spec.layout === 'conv2d') {
    const [o, i, kh, kw] = s;
    const out = new Float32Array(data.length);
    for (let a = 0; a < o; a++)
      for (let b = 0; b < i; b++)
        for (let y = 0; y < kh; y++)
          for (let x = 0; x < kw; x++) out[((a * i + b) * kh + y) * kw + x] = data[((y * kw + x) * i + b) * o + a];
    return out;
  }
  if (spec.layout === 'linear') return transpose2d(data, s[1], s[0]);
  return data.slice();
}

function transpose2d(data: Float32Array, rows: number, cols: number): Float32Array {
  const out = new Float32Array(data.length);
  for (let r = 0; r < rows; r++) for (let c = 0; c < cols; c++) out[c * rows + r] = data[r * cols + c];
  return out;
}

export class TfjsModel {
  private readonly vars = new Map<string, tf.Variable>();
  private disposed = false;

  private constructor(readonly ir: ModelIR) {}

  /** Variables from canonical-layout values; every IR parameter must be present with its exact size. */
  static create(ir: ModelIR, params: ReadonlyMap<string, Float32Array>): TfjsModel {
    const m = new TfjsModel(ir);
    try {
      for (const spec of ir.params) {
        const data = params.get(spec.name);
        if (!data) throw new RangeError(`missing parameter ${spec.name}`);
        const t = toTfjsLayout(spec, data);
        // Unnamed: tfjs variable names are global, and several models may coexist.
        m.vars.set(spec.name, tf.variable(tf.tensor(t.data, t.shape, 'float32'), true));
      }
    } catch (e) {
      m.dispose();
      throw e;
    }
    const extra = [...params.keys()].filter((k) => !m.vars.has(k));
    if (extra.length > 0) {
      m.dispose();
      throw new RangeError(`unknown parameters: ${extra.slice(0, 5).join(', ')}${extra.length > 5 ? ', ...' : ''}`);
    }
    return m;
  }

  /** Values per sample of the input (product of ir.inputs.x.shape). */
  get dim(): number {
    return numel(this.ir.inputs.x.shape);
  }

  /** 2 with learned variance (output = [prediction | v] along channels), else 1. */
  get outputChannelsFactor(): 1 | 2 {
    const c = this.ir.inputs.x.shape[this.ir.inputs.x.shape.length - 1];
    return this.ir.outputChannels === 2 * c ? 2 : 1;
  }

  /** Every variable in IR parameter order (fixed: optimizer state and checkpoints rely on it). */
  trainableVariables(): tf.Variable[] {
    this.check();
    return this.ir.params.map((p) => this.vars.get(p.name) as tf.Variable);
  }

  /** The variable of one parameter (tfjs layout). */
  variable(name: string): tf.Variable {
    this.check();
    const v = this.vars.get(name);
    if (!v) throw new RangeError(`unknown parameter ${name}`);
    return v;
  }

  /** All parameters in canonical layout (a copy). */
  readParams(): Map<string, Float32Array> {
    this.check();
    return new Map(
      this.ir.params.map((spec) => [
        spec.name,
        fromTfjsLayout(spec, this.vars.get(spec.name)!.dataSync() as Float32Array),
      ]),
    );
  }

  /** Assigns parameters from canonical layout; a subset is allowed, unknown names and wrong sizes throw. */
  writeParams(params: ReadonlyMap<string, Float32Array>): void {
    this.check();
    const specs = new Map(this.ir.params.map((p) => [p.name, p]));
    const staged: [tf.Variable, tf.Tensor][] = [];
    try {
      for (const [name, data] of params) {
        const spec = specs.get(name);
        if (!spec) throw new RangeError(`unknown parameter ${name}`);
        const t = toTfjsLayout(spec, data);
        staged.push([this.vars.get(name)!, tf.tensor(t.data, t.shape, 'float32')]);
      }
      for (const [v, t] of staged) v.assign(t);
    } finally {
      for (const [, t] of staged) t.dispose();
    }
  }

  /**
   * Runs the network. x: [B, ...inputs.x.shape]; t: [B] float timesteps; labels: [B] int32 classes (negative or
   * numClasses = the null class), null = the null class for every sample; must be null for an unconditional model.
   * Returns [B, ...spatial, outputChannels]. Not wrapped in tidy: call it inside tf.tidy / tf.variableGrads.
   */
  apply(x: tf.Tensor, t: tf.Tensor1D, labels: tf.Tensor1D | null, options: ApplyOptions): tf.Tensor {
    this.check();
    const { ir } = this;
    const b = x.shape[0];
    const want = [b, ...ir.inputs.x.shape];
    if (x.rank !== want.length || !x.shape.every((d, i) => d === want[i])) {
      throw new RangeError(`x has shape [${x.shape.join(', ')}], model expects [${want.join(', ')}]`);
    }
    if (t.rank !== 1 || t.shape[0] !== b) throw new RangeError(`t must have shape [${b}], got [${t.shape.join(', ')}]`);
    const mode = options.gradMode ?? defaultGradMode();
    const training = options.training;
    const hasDropout = ir.nodes.some((n) => n.op === 'dropout' && n.rate > 0);
    if (training && hasDropout && options.dropoutSeed === undefined) {
      throw new Error('training a model with dropout needs options.dropoutSeed (reproducible masks)');
    }

    const vals = new Map<string, tf.Tensor>();
    vals.set('x', x.dtype === 'float32' ? x : tf.cast(x, 'float32'));
    vals.set('t', t.dtype === 'float32' ? t : tf.cast(t, 'float32'));
    if (ir.inputs.label) {
      const n = ir.inputs.label.numClasses;
      if (labels === null) vals.set('label', tf.fill([b], n, 'int32'));
      else {
        if (labels.rank !== 1 || labels.shape[0] !== b) throw new RangeError(`labels must have shape [${b}]`);
        const l = labels.dtype === 'int32' ? labels : tf.cast(labels, 'int32');
        vals.set('label', tf.where(tf.less(l, 0), tf.fill([b], n, 'int32'), l));
      }
    } else if (labels !== null) {
      throw new RangeError('the model is unconditional (numClasses 0): pass labels = null');
    }

    const P = <T extends tf.Tensor>(name: string): T => this.vars.get(name) as unknown as T;
    ir.nodes.forEach((node, index) => {
      const a = vals.get(node.inputs[0]) as tf.Tensor;
      let y: tf.Tensor;
      switch (node.op) {
        case 'conv2d':
          y = ops.conv2d(a as tf.Tensor4D, P(node.params.weight), P(node.params.bias), node.stride, mode);
          break;
        case 'linear':
          y = ops.linear(a, P(node.params.weight), P(node.params.bias), mode);
          break;
        case 'group_norm':
          y = ops.groupNorm(a, node.groups, node.eps, P(node.params.weight), P(node.params.bias), mode);
          break;
        case 'silu':
          y = ops.silu(a);
          break;
        case 'add':
          y = tf.add(a, vals.get(node.inputs[1]) as tf.Tensor);
          break;
        case 'mul':
          y = tf.mul(a, vals.get(node.inputs[1]) as tf.Tensor);
          break;
        case 'timestep_embedding':
          y = ops.timestepEmbedding(a as tf.Tensor1D, node.dim, node.maxPeriod);
          break;
        case 'embedding':
          y = ops.embedding(a as tf.Tensor1D, P(node.params.weight), mode);
          break;
        case 'add_broadcast':
          y = ops.addBroadcast(a as tf.Tensor4D, vals.get(node.inputs[1]) as tf.Tensor2D);
          break;
        case 'upsample_nearest_2x':
          y = ops.upsampleNearest2x(a as tf.Tensor4D);
          break;
        case 'concat_channels':
          y = ops.concatChannels(node.inputs.map((v) => vals.get(v) as tf.Tensor));
          break;
        case 'self_attention': {
          const p = node.params;
          y = ops.selfAttention(
            a as tf.Tensor4D,
            node.heads,
            node.groups,
            node.eps,
            {
              normW: P(p.norm.weight),
              normB: P(p.norm.bias),
              qkvW: P(p.qkv.weight),
              qkvB: P(p.qkv.bias),
              projW: P(p.proj.weight),
              projB: P(p.proj.bias),
            },
            mode,
          );
          break;
        }
        case 'dropout':
          y = training ? ops.dropout(a, node.rate, `${options.dropoutSeed}:${index}`) : a;
          break;
        case 'output':
          y = a;
          break;
        default:
          throw new Error(`tfjs engine: unknown op ${(node as { op: string }).op}`);
      }
      vals.set(node.output, y);
    });
    return vals.get('out') as tf.Tensor;
  }

  /**
   * Inference on plain arrays, for samplers: x is B * dim values (HWC per sample), t one timestep for the whole
   * batch, labels one class per sample (NULL_LABEL = -1 or numClasses = the null class; omitted = null class).
   * Returns B * dim * outputChannelsFactor values; with learned variance sample j's slice is
   * [prediction (dim), v (dim)] (VpModel's layout), not the network's channel-interleaved one.
   */
  predictBatch(x: Float32Array, t: number, labels?: Int32Array): Float32Array {
    this.check();
    const dim = this.dim;
    if (x.length % dim !== 0) throw new RangeError(`batch of ${x.length} values is not a multiple of dim ${dim}`);
    const b = x.length / dim;
    if (labels && labels.length !== b) throw new RangeError(`${labels.length} labels for a batch of ${b}`);
    // dataSync outside tidy: tidy walks a returned TypedArray element by element looking for tensors (seconds).
    const result = tf.tidy(() => {
      const xt = tf.tensor(x, [b, ...this.ir.inputs.x.shape], 'float32');
      const tt = tf.fill([b], t, 'float32') as tf.Tensor1D;
      const lt = this.ir.inputs.label && labels ? tf.tensor1d(labels, 'int32') : null;
      let out = this.apply(xt, tt, lt, { training: false });
      if (this.outputChannelsFactor === 2) {
        const [pred, v] = tf.split(out, 2, -1);
        out = tf.concat([tf.reshape(pred, [b, dim]), tf.reshape(v, [b, dim])], 1);
      }
      return out;
    });
    try {
      return result.dataSync() as Float32Array;
    } finally {
      result.dispose();
    }
  }

  /** Frees every variable; the model is unusable afterwards. */
  dispose(): void {
    for (const v of this.vars.values()) v.dispose();
    this.vars.clear();
    this.disposed = true;
  }

  private check(): void {
    if (this.disposed) throw new Error('TfjsModel used after dispose()');
  }
}

/** A VpModel (src/core/parameterization.ts) over a TfjsModel, with labels bound (optional). */
export function tfjsVpModel(model: TfjsModel, labels?: Int32Array): VpModel {
  return {
    dim: model.dim,
    outputChannelsFactor: model.outputChannelsFactor,
    predict: (xt, t) => model.predictBatch(xt instanceof Float32Array ? xt : Float32Array.from(xt), t, labels),
  };
}
