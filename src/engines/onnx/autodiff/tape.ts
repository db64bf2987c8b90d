/**
 * Reverse-mode differentiation that emits ONNX. A Tape records every op it adds to an ONNX graph together with its
 * vector-Jacobian product (VJP), itself written in ONNX ops; `gradients(loss, wrt)` walks the record backwards and
 * appends the backward pass to the same graph. The result is one plain ONNX graph (forward + backward + whatever
 * follows, e.g. the optimizer) that any onnxruntime execution provider runs: no training runtime needed.
 *
 * Shapes are static (the training graph is built for one batch size), so broadcasting gradients reduce over known
 * axes and every Reshape is written with literal dims. Values that do not depend on a differentiable input carry
 * `grad: false` and get no backward ops.
 */
import {
  AttributeType,
  DataType,
  encodeModel,
  IR_VERSION,
  valueInfo,
  type AttributeJson,
  type NodeJson,
  type TensorJson,
  type ValueInfoJson,
} from '../onnx-proto.ts';

export type Dtype = 'float' | 'int64' | 'bool';

/** A value of the graph: its ONNX name, static shape and whether a gradient flows through it. */
export interface Value {
  readonly name: string;
  readonly shape: readonly number[];
  readonly dtype: Dtype;
  readonly grad: boolean;
}

/** Gradients of an op's inputs from the gradient of its output (null: no gradient for that input). */
export type Vjp = (gy: Value, y: Value) => (Value | null)[];

interface Record {
  out: Value;
  ins: readonly Value[];
  vjp: Vjp;
}

type Attr = number | string | number[] | { float: number };

const ELEM_TYPE: { [K in Dtype]: number } = { float: DataType.FLOAT, int64: DataType.INT64, bool: 9 };

function attribute(name: string, v: Attr): AttributeJson {
  if (typeof v === 'number') return { name, type: AttributeType.INT, i: v };
  if (typeof v === 'string') return { name, type: AttributeType.STRING, s: new TextEncoder().encode(v) };
  if (Array.isArray(v)) return { name, type: AttributeType.INTS, ints: v };
  return { name, type: AttributeType.FLOAT, f: v.float };
}

function bytesOf(a: Float32Array | BigInt64Array): Uint8Array {
  return new Uint8Array(a.buffer.slice(a.byteOffset, a.byteOffset + a.byteLength));
}

export const numel = (shape: readonly number[]): number => shape.reduce((a, b) => a * b, 1);
export const sameShape = (a: readonly number[], b: readonly number[]): boolean =>
  a.length === b.length && a.every((d, i) => d === b[i]);
const fmt = (s: readonly number[]): string => `[${s.join(', ')}]`;

/** Numpy broadcasting of two static shapes. */
export function broadcastShapes(a: readonly number[], b: readonly number[]): number[] {
  const n = Math.max(a.length, b.length);
  const out: number[] = [];
  for (let i = 0; i < n; i++) {
    const da = a[a.length - n + i] ?? 1;
    const db = b[b.length - n + i] ?? 1;
    if (da !== db && da !== 1 && db !== 1) throw new RangeError(`cannot broadcast ${fmt(a)} with ${fmt(b)}`);
    out.push(da === 1 ? db : da);
  }
  return out;
}

export interface TapeOptions {
  /**
   * Block size of onnxruntime CPU's blocked-layout convolutions (com.microsoft.nchwc; nchwc.ts probes it), or null
   * for standard Conv only. Only a session on the cpu provider can run such a graph.
   */
  nchwcBlock?: number | null;
}

export class Tape {
  readonly nodes: NodeJson[] = [];
  /** Operator-set domains besides ONNX's own that the nodes use. */
  readonly domains = new Set<string>();
  readonly nchwcBlock: number | null;
  readonly initializers: TensorJson[] = [];
  readonly inputs: ValueInfoJson[] = [];
  readonly outputs: ValueInfoJson[] = [];
  readonly #records: Record[] = [];
  readonly #constants = new Map<string, Value>();
  #count = 0;
  /** Off while the backward pass is written: gradient ops need no VJPs of their own (no second order). */
  #recording = true;

  constructor(options: TapeOptions = {}) {
    this.nchwcBlock = options.nchwcBlock ?? null;
  }

  /** A graph input. `grad`: gradients may be taken with respect to it (parameters). */
  input(name: string, shape: readonly number[], dtype: Dtype = 'float', grad = false): Value {
    this.inputs.push(valueInfo(name, ELEM_TYPE[dtype], shape));
    return { name, shape: [...shape], dtype, grad };
  }

  /** Marks a value as a graph output under the given name (an Identity, so names stay unique). */
  output(name: string, v: Value): void {
    this.nodes.push({ opType: 'Identity', input: [v.name], output: [name], name, attribute: [] });
    this.outputs.push(valueInfo(name, ELEM_TYPE[v.dtype], v.shape));
  }

  /**
   * Adds one ONNX node. `vjp` is required when any input carries a gradient; non-differentiable ops (comparisons,
   * casts, shape plumbing of non-gradient values) omit it and produce values without gradient.
   */
  op(
    opType: string,
    ins: readonly Value[],
    shape: readonly number[],
    options: {
      attrs?: { [name: string]: Attr };
      dtype?: Dtype;
      vjp?: Vjp;
      extraInputs?: string[];
      hint?: string;
      domain?: string;
    } = {},
  ): Value {
    // The hint names the node's role (e.g. ConvDX) so that onnxruntime's profiles say where the time goes.
    const name = `${options.hint ?? opType}_${this.#count++}`;
    if (options.domain) this.domains.add(options.domain);
    this.nodes.push({
      opType,
      ...(options.domain ? { domain: options.domain } : {}),
      input: [...ins.map((v) => v.name), ...(options.extraInputs ?? [])],
      output: [name],
      name,
      attribute: Object.entries(options.attrs ?? {}).map(([k, v]) => attribute(k, v)),
    });
    const grad = this.#recording && options.vjp !== undefined && ins.some((v) => v.grad);
    const out: Value = { name, shape: [...shape], dtype: options.dtype ?? 'float', grad };
    if (grad) this.#records.push({ out, ins, vjp: options.vjp! });
    return out;
  }

  /**
   * A node with several outputs and no VJP of its own (wrap it in `composite` to differentiate through it), e.g.
   * LayerNormalization's [Y, Mean, InvStdDev].
   */
  opN(
    opType: string,
    ins: readonly Value[],
    shapes: readonly (readonly number[])[],
    attrs: { [name: string]: Attr } = {},
  ): Value[] {
    const base = `${opType}_${this.#count++}`;
    const outs = shapes.map((shape, i) => ({
      name: `${base}:${i}`,
      shape: [...shape],
      dtype: 'float' as Dtype,
      grad: false,
    }));
    this.nodes.push({
      opType,
      input: ins.map((v) => v.name),
      output: outs.map((o) => o.name),
      name: base,
      attribute: Object.entries(attrs).map(([k, v]) => attribute(k, v)),
    });
    return outs;
  }

  /** A float constant (shared when equal). */
  floats(shape: readonly number[], values: ArrayLike<number>): Value {
    if (values.length !== numel(shape)) throw new RangeError(`constant of ${values.length} values for ${fmt(shape)}`);
    const data = Float32Array.from(values);
    const key = `f:${fmt(shape)}:${data.join(',')}`;
    return this.#constant(
      key,
      () => ({ dims: [...shape], dataType: DataType.FLOAT, rawData: bytesOf(data) }),
      shape,
      'float',
    );
  }

  scalar(v: number): Value {
    return this.floats([], [v]);
  }

  /** An int64 constant (shapes, axes, pads, labels' ranges). */
  ints(values: readonly number[], shape: readonly number[] = [values.length]): Value {
    const data = BigInt64Array.from(values.map((v) => BigInt(v)));
    return this.#constant(
      `i:${fmt(shape)}:${values.join(',')}`,
      () => ({ dims: [...shape], dataType: DataType.INT64, rawData: bytesOf(data) }),
      shape,
      'int64',
    );
  }

  #constant(key: string, tensor: () => Omit<TensorJson, 'name'>, shape: readonly number[], dtype: Dtype): Value {
    let v = this.#constants.get(key);
    if (!v) {
      const name = `const_${this.#constants.size}`;
      this.initializers.push({ name, ...tensor() });
      v = { name, shape: [...shape], dtype, grad: false };
      this.#constants.set(key, v);
    }
    return v;
  }

  /**
   * Several ops with one hand-written VJP (e.g. a normalization whose closed-form gradient is far cheaper than the
   * sum of its primitives'): `build` emits the forward without recording, `vjp` maps the output's gradient to the
   * inputs'.
   */
  composite(ins: readonly Value[], build: () => Value, vjp: Vjp): Value {
    const was = this.#recording;
    this.#recording = false;
    let out: Value;
    try {
      out = build();
    } finally {
      this.#recording = was;
    }
    const grad = this.#recording && ins.some((v) => v.grad);
    const result: Value = { ...out, grad };
    if (grad) this.#records.push({ out: result, ins, vjp });
    return result;
  }

  /** The same value with its gradient cut (torch's detach). */
  stopGradient(x: Value): Value {
    return this.op('Identity', [x], x.shape, { dtype: x.dtype });
  }

  /**
   * Appends the backward pass of scalar `y` and returns d y / d w for each of `wrt` (zeros for a value y does not
   * depend on). Contributions to a value used several times are summed.
   */
  gradients(y: Value, wrt: readonly Value[]): Value[] {
    if (y.shape.length !== 0) throw new RangeError(`gradients need a scalar, got ${fmt(y.shape)}`);
    const pending = new Map<string, Value[]>();
    const add = (v: Value, g: Value) => {
      if (!sameShape(v.shape, g.shape)) {
        throw new Error(`internal: gradient of ${v.name} has shape ${fmt(g.shape)}, value ${fmt(v.shape)}`);
      }
      const list = pending.get(v.name);
      if (list) list.push(g);
      else pending.set(v.name, [g]);
    };
    const total = (v: Value): Value | null => {
      const list = pending.get(v.name);
      if (!list) return null;
      const sum = list.length === 1 ? list[0] : this.op('Sum', list, v.shape);
      pending.set(v.name, [sum]);
      return sum;
    };
    add(y, this.scalar(1));
    this.#recording = false;
    try {
      for (let i = this.#records.length - 1; i >= 0; i--) {
        const r = this.#records[i];
        const gy = total(r.out);
        if (!gy) continue;
        const gs = r.vjp(gy, r.out);
        r.ins.forEach((v, k) => {
          const g = gs[k];
          if (v.grad && g) add(v, g);
        });
      }
      return wrt.map((w) => total(w) ?? this.zeros(w.shape));
    } finally {
      this.#recording = true;
    }
  }

  /** The graph as ONNX model bytes: ONNX's operator set `opset`, version 1 of every other domain the nodes use. */
  encode(name: string, opset: number, docString = ''): Uint8Array {
    return encodeModel({
      irVersion: IR_VERSION,
      producerName: 'diffusion-studio',
      producerVersion: '0.1.0',
      docString,
      graph: { name, node: this.nodes, initializer: this.initializers, input: this.inputs, output: this.outputs },
      opsetImport: [{ domain: '', version: opset }, ...[...this.domains].map((domain) => ({ domain, version: 1 }))],
      metadataProps: [],
    });
  }

  /** Zeros of a shape without storing them (Expand of a scalar). */
  zeros(shape: readonly number[]): Value {
    return this.op('Expand', [this.scalar(0), this.ints(shape)], shape);
  }
}
