/**
 * ONNX denoisers from elsewhere (typically torch.onnx.export of a PyTorch U-Net): inputs (x, t[, class]) under any
 * of the common names, output eps / x0 / v. inspectForeignOnnx reads the interface from onnxruntime's metadata and
 * checks it with one probe run; ForeignOnnxModel feeds the model in its own layout, t dtype and batch size, so the
 * rest of the project sees the same VpModel as for our own exports (NHWC samples, fractional t, one label per
 * sample, negative = the null class).
 */
import { readFile } from 'node:fs/promises';
import * as ort from 'onnxruntime-node';
import type { VpModel } from '../../core/parameterization.ts';
import {
  createProbedSession,
  PROVIDER_ORDER,
  splitVariance,
  type OnnxProvider,
  type ProviderProbe,
} from './session.ts';

export type OnnxLayout = 'nchw' | 'nhwc';

/** Accepted input names, lower-cased (PyTorch / diffusers conventions first). */
export const X_NAMES = ['x', 'sample', 'input', 'x_t', 'xt', 'noisy', 'noisy_input', 'latent', 'latents', 'image'];
export const T_NAMES = ['t', 'timestep', 'timesteps', 'time', 'step'];
export const CLASS_NAMES = ['class', 'classes', 'label', 'labels', 'y', 'class_labels', 'class_label', 'cond'];

const T_TYPES = ['float32', 'int64', 'int32'] as const;
const CLASS_TYPES = ['int64', 'int32'] as const;

/** How to call a foreign model: stored as an import run's config (all JSON). */
export interface ForeignInterface {
  inputs: { x: string; t: string; class?: string };
  output: string;
  layout: OnnxLayout;
  tType: (typeof T_TYPES)[number];
  /** t fed as a scalar (rank 0) rather than one value per sample. */
  tScalar: boolean;
  classType?: (typeof CLASS_TYPES)[number];
  /** Per-sample shape in the project's layout: [H, W, C] for images, [D] for vectors. */
  shape: number[];
  /** A fixed batch size baked into the graph, or null when the batch dimension is dynamic. */
  batch: number | null;
  learnedVariance: boolean;
}

/** A problem with the model file itself: one line, naming the input or output at fault. */
export class ForeignModelError extends Error {
  override name = 'ForeignModelError';
}

type Meta = ort.InferenceSession.ValueMetadata;
type TensorMeta = Extract<Meta, { isTensor: true }>;

const fmt = (m: Meta) => (m.isTensor ? `${m.name} ${m.type}[${m.shape.join(', ')}]` : `${m.name} (not a tensor)`);
const isDynamic = (d: number | string | undefined) => typeof d !== 'number' || d < 0;

function tensor(m: Meta, role: string): TensorMeta {
  if (!m.isTensor) throw new ForeignModelError(`${role} input "${m.name}" is not a tensor`);
  return m;
}

/** Which graph input plays which role: by name first, then leftovers in order for x and t (never for class). */
function assignInputs(metas: readonly Meta[]): { x: Meta; t: Meta; cls?: Meta } {
  const all = metas.map(fmt).join(', ');
  if (metas.length < 2 || metas.length > 3) {
    throw new ForeignModelError(
      `the model has ${metas.length} input${metas.length === 1 ? '' : 's'} (${all}); expected (x, t) or (x, t, class)`,
    );
  }
  const byName = (names: string[]) => metas.find((m) => names.includes(m.name.toLowerCase()));
  let x = byName(X_NAMES);
  let t = byName(T_NAMES);
  const cls = byName(CLASS_NAMES);
  const rest = metas.filter((m) => m !== x && m !== t && m !== cls);
  if (!x && rest.length > 0) x = rest.shift();
  if (!t && rest.length > 0) t = rest.shift();
  if (!x) throw new ForeignModelError(`no sample input among (${all}); name it x, sample or input`);
  if (!t) throw new ForeignModelError(`no timestep input among (${all}); name it t, timestep or timesteps`);
  if (rest.length > 0) {
    throw new ForeignModelError(
      `input "${rest[0].name}" is not recognized; a class input is named ${CLASS_NAMES.slice(0, 5).join(', ')} or class_labels`,
    );
  }
  return { x, t, ...(cls ? { cls } : {}) };
}

/**
 * The interface of a foreign model, from onnxruntime's input / output metadata. Static checks only; probeForeign
 * then runs it once. layout says how a rank-4 x is laid out (PyTorch exports NCHW).
 */
export function readForeignInterface(
  session: Pick<ort.InferenceSession, 'inputMetadata' | 'outputMetadata'>,
  options: { layout: OnnxLayout; learnedVariance: boolean },
): ForeignInterface {
  const roles = assignInputs(session.inputMetadata);
  const x = tensor(roles.x, 'sample');
  const t = tensor(roles.t, 'timestep');
  const cls = roles.cls ? tensor(roles.cls, 'class') : undefined;

  if (x.type !== 'float32') throw new ForeignModelError(`sample input ${fmt(x)} must be float32`);
  if (x.shape.length !== 4 && x.shape.length !== 2) {
    throw new ForeignModelError(`sample input ${fmt(x)} must be [batch, C, H, W], [batch, H, W, C] or [batch, D]`);
  }
  const dims = x.shape.slice(1);
  if (dims.some(isDynamic)) {
    throw new ForeignModelError(`sample input ${fmt(x)} has a dynamic size besides the batch; export it fixed`);
  }
  const d = dims as number[];
  const shape = d.length === 1 ? d : options.layout === 'nchw' ? [d[1], d[2], d[0]] : d;
  const batch = isDynamic(x.shape[0]) ? null : (x.shape[0] as number);

  if (!(T_TYPES as readonly string[]).includes(t.type)) {
    throw new ForeignModelError(`timestep input ${fmt(t)} must be float32, int64 or int32`);
  }
  if (t.shape.length > 1 || (t.shape.length === 1 && !isDynamic(t.shape[0]) && t.shape[0] !== batch)) {
    throw new ForeignModelError(`timestep input ${fmt(t)} must be [batch] (or a scalar)`);
  }
  if (cls) {
    if (!(CLASS_TYPES as readonly string[]).includes(cls.type))
      throw new ForeignModelError(`class input ${fmt(cls)} must be int64 or int32`);
    if (cls.shape.length !== 1) throw new ForeignModelError(`class input ${fmt(cls)} must be [batch]`);
  }

  const outs = session.outputMetadata;
  if (outs.length === 0) throw new ForeignModelError('the model has no outputs');
  const out = outs[0];
  if (!out.isTensor || out.type !== 'float32')
    throw new ForeignModelError(`output ${fmt(out)} must be a float32 tensor`);
  if (out.shape.length > 0) checkOutputShape(out.shape, x.shape, options.layout, options.learnedVariance, fmt(out));
  return {
    inputs: { x: x.name, t: t.name, ...(cls ? { class: cls.name } : {}) },
    output: out.name,
    layout: options.layout,
    tType: t.type as ForeignInterface['tType'],
    tScalar: t.shape.length === 0,
    ...(cls ? { classType: cls.type as ForeignInterface['classType'] } : {}),
    shape,
    batch,
    learnedVariance: options.learnedVariance,
  };
}

/** The output must have x's shape, with twice the channels under learned variance; dynamic dims pass here. */
function checkOutputShape(
  out: readonly (number | string)[],
  x: readonly (number | string)[],
  layout: OnnxLayout,
  learnedVariance: boolean,
  what: string,
): void {
  const channelAxis = x.length === 2 ? 1 : layout === 'nchw' ? 1 : 3;
  const expected = x.map((d, i) => (i === channelAxis && typeof d === 'number' ? d * (learnedVariance ? 2 : 1) : d));
  const wanted = `[${expected.join(', ')}]`;
  if (out.length !== x.length) throw new ForeignModelError(`output ${what} does not match the sample shape ${wanted}`);
  for (let i = 1; i < x.length; i++) {
    const o = out[i];
    const e = expected[i];
    if (isDynamic(o) || isDynamic(e) || o === e) continue;
    if (i === channelAxis && !learnedVariance && o === 2 * (e as number)) {
      throw new ForeignModelError(`output ${what} has twice the sample's channels; pass --learned-variance`);
    }
    throw new ForeignModelError(`output ${what} does not match the sample shape ${wanted}`);
  }
}

/** Per-sample values of a project-layout shape. */
const dimOf = (shape: readonly number[]) => shape.reduce((a, b) => a * b, 1);

/** NHWC batch -> NCHW batch (or back with inverse). c channels; pixels = H * W. */
function transposeChannels(src: Float32Array, b: number, pixels: number, c: number, toNchw: boolean): Float32Array {
  const dst = new Float32Array(src.length);
  for (let j = 0; j < b; j++) {
    const base = j * pixels * c;
    for (let p = 0; p < pixels; p++)
      for (let k = 0; k < c; k++) {
        const nhwc = base + p * c + k;
        const nchw = base + k * pixels + p;
        if (toNchw) dst[nchw] = src[nhwc];
        else dst[nhwc] = src[nchw];
      }
  }
  return dst;
}

/** A foreign ONNX denoiser run by onnxruntime-node; run() blocks its thread (use a worker in anything interactive). */
export class ForeignOnnxModel {
  private released = false;

  private constructor(
    private readonly session: ort.InferenceSession,
    readonly spec: ForeignInterface,
    /** Classes of a conditional model; labels outside 0..numClasses-1 are fed as numClasses (the null class). */
    readonly numClasses: number,
    readonly provider: OnnxProvider,
    readonly probes: readonly ProviderProbe[],
  ) {}

  /** Opens a model whose interface is already known (an import run's config). */
  static async create(
    model: Uint8Array | string,
    spec: ForeignInterface,
    numClasses: number,
    options: { providers?: readonly OnnxProvider[]; intraOpThreads?: number } = {},
  ): Promise<ForeignOnnxModel> {
    const bytes = typeof model === 'string' ? new Uint8Array(await readFile(model)) : model;
    const { session, provider, probes } = await createProbedSession(
      bytes,
      options.providers ?? PROVIDER_ORDER,
      options.intraOpThreads,
    );
    return new ForeignOnnxModel(session, spec, numClasses, provider, probes);
  }

  get dim(): number {
    return dimOf(this.spec.shape);
  }

  get outputChannelsFactor(): 1 | 2 {
    return this.spec.learnedVariance ? 2 : 1;
  }

  /**
   * As OnnxModelSession.predictBatch: x is B * dim NHWC values, one t for the batch, one label per sample. Returns
   * per sample [prediction (dim)] or, with learned variance, [prediction (dim), v (dim)], NHWC. A fixed-batch model
   * is called in chunks of its batch, the last one zero-padded.
   */
  async predictBatch(x: Float32Array, t: number, labels?: Int32Array): Promise<Float32Array> {
    if (this.released) throw new Error('ForeignOnnxModel used after release()');
    const dim = this.dim;
    if (x.length % dim !== 0) throw new RangeError(`batch of ${x.length} values is not a multiple of dim ${dim}`);
    const b = x.length / dim;
    if (labels && labels.length !== b) throw new RangeError(`${labels.length} labels for a batch of ${b}`);
    const fixed = this.spec.batch;
    if (fixed === null) return this.#call(x, b, t, labels);
    const factor = this.outputChannelsFactor;
    const result = new Float32Array(b * dim * factor);
    for (let first = 0; first < b; first += fixed) {
      const count = Math.min(fixed, b - first);
      const chunk = new Float32Array(fixed * dim);
      chunk.set(x.subarray(first * dim, (first + count) * dim));
      const l = labels ? new Int32Array(fixed).fill(-1) : undefined;
      if (l && labels) l.set(labels.subarray(first, first + count));
      const out = await this.#call(chunk, fixed, t, l);
      result.set(out.subarray(0, count * dim * factor), first * dim * factor);
    }
    return result;
  }

  async #call(x: Float32Array, b: number, t: number, labels?: Int32Array): Promise<Float32Array> {
    const { spec } = this;
    const image = spec.shape.length === 3;
    const [h, w, c] = image ? spec.shape : [1, 1, spec.shape[0]];
    const nchw = image && spec.layout === 'nchw';
    const xShape = !image ? [b, c] : nchw ? [b, c, h, w] : [b, h, w, c];
    const feeds: Record<string, ort.Tensor> = {
      [spec.inputs.x]: new ort.Tensor('float32', nchw ? transposeChannels(x, b, h * w, c, true) : x, xShape),
      [spec.inputs.t]: timestepTensor(spec, t, b),
    };
    if (spec.inputs.class) {
      const n = this.numClasses;
      const pick = (j: number) => {
        const l = labels ? labels[j] : -1;
        return l < 0 || l >= n ? n : l;
      };
      feeds[spec.inputs.class] =
        spec.classType === 'int32'
          ? new ort.Tensor(
              'int32',
              Int32Array.from({ length: b }, (_, j) => pick(j)),
              [b],
            )
          : new ort.Tensor(
              'int64',
              BigInt64Array.from({ length: b }, (_, j) => BigInt(pick(j))),
              [b],
            );
    }
    const result = await this.session.run(feeds, [spec.output]);
    const out = result[spec.output];
    try {
      const factor = this.outputChannelsFactor;
      const data = out.data as Float32Array;
      const channelAxis = !image ? 1 : nchw ? 1 : 3;
      const want = xShape.map((d, i) => (i === channelAxis ? d * factor : d));
      if (out.dims.length !== want.length || out.dims.some((d, i) => d !== want[i])) {
        throw new Error(
          `output ${spec.output} has shape [${out.dims.join(', ')}] for an input of [${xShape.join(', ')}]; ` +
            `expected [${want.join(', ')}]`,
        );
      }
      // Back to NHWC with the prediction's channels first (the exporter's layout), then split per sample.
      const nhwc = nchw ? transposeChannels(data, b, h * w, factor * c, false) : data;
      if (factor === 1) return nhwc === data ? data.slice() : nhwc;
      return splitVariance(nhwc, b, h * w, c);
    } finally {
      out.dispose();
    }
  }

  async release(): Promise<void> {
    if (this.released) return;
    this.released = true;
    await this.session.release();
  }
}

function timestepTensor(spec: ForeignInterface, t: number, b: number): ort.Tensor {
  const dims = spec.tScalar ? [] : [b];
  const n = spec.tScalar ? 1 : b;
  // Integer-t models were trained on whole timesteps: round the sampler's fractional t.
  if (spec.tType === 'int64') return new ort.Tensor('int64', new BigInt64Array(n).fill(BigInt(Math.round(t))), dims);
  if (spec.tType === 'int32') return new ort.Tensor('int32', new Int32Array(n).fill(Math.round(t)), dims);
  return new ort.Tensor('float32', new Float32Array(n).fill(t), dims);
}

/**
 * Reads and checks a foreign model: the interface from its metadata, then one probe run at t = 0 on zeros (batch 2
 * when dynamic, to catch a batch dimension that is not really dynamic) whose output must have the expected size.
 */
export async function inspectForeignOnnx(
  bytes: Uint8Array,
  options: { layout: OnnxLayout; learnedVariance: boolean; numClasses: number },
): Promise<ForeignInterface> {
  let session: ort.InferenceSession;
  try {
    session = await ort.InferenceSession.create(bytes, { executionProviders: ['cpu'], logSeverityLevel: 4 });
  } catch (e) {
    throw new ForeignModelError(`onnxruntime cannot load it: ${(e as Error).message.split('\n')[0]}`);
  }
  let spec: ForeignInterface;
  try {
    spec = readForeignInterface(session, options);
  } finally {
    await session.release();
  }
  if (spec.inputs.class && options.numClasses < 1) {
    throw new ForeignModelError(`the model takes a class input ("${spec.inputs.class}"); pass --classes K`);
  }
  if (!spec.inputs.class && options.numClasses > 0) {
    throw new ForeignModelError('--classes needs a model with a class input (class, label, y or class_labels)');
  }
  const model = await ForeignOnnxModel.create(bytes, spec, options.numClasses, { providers: ['cpu'] });
  try {
    const b = spec.batch ?? 2;
    await model.predictBatch(new Float32Array(b * model.dim), 0);
  } catch (e) {
    throw new ForeignModelError(`a test run failed: ${(e as Error).message.split('\n')[0]}`);
  } finally {
    await model.release();
  }
  return spec;
}

/** A VpModel over a foreign model, labels bound (optional). */
export function foreignVpModel(model: ForeignOnnxModel, labels?: Int32Array): VpModel {
  return {
    dim: model.dim,
    outputChannelsFactor: model.outputChannelsFactor,
    predict: (xt, t) => model.predictBatch(xt instanceof Float32Array ? xt : Float32Array.from(xt), t, labels),
  };
}
