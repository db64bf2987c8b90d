/**
 * Runs the compiled training step (train-graph.ts) in onnxruntime-node and owns the state it updates: weights and
 * Adam moments in canonical layout, as Float32Arrays the checkpoint code reads directly. An update is adopted only
 * when the loss and the gradient norm are finite, so a NaN step leaves the state exactly as it was.
 */
import * as ort from 'onnxruntime-node';
import type { DiscreteSchedule } from '../../core/schedules.ts';
import type { ModelIR } from '../../model/ir.ts';
import { timestepCoefficients } from '../../train/objectives.ts';
import { fillDropoutMask } from './dropout-masks.ts';
import { nchwcBlockSize } from './nchwc.ts';
import { createProbedSession, PROVIDER_ORDER, type OnnxProvider, type ProviderProbe } from './session.ts';
import { buildTrainGraph, COEFFICIENT_INPUTS, type TrainGraph, type TrainGraphSpec } from './train-graph.ts';

export interface TrainBatch {
  x0: Float32Array;
  eps: Float32Array;
  xt: Float32Array;
  /** Integer timesteps. */
  t: Int32Array;
  labels: Int32Array | null;
}

export interface StepResult {
  loss: number;
  perSample: Float32Array;
  gradNorm: number;
  /** False when the loss or gradient norm was not finite: the state was left unchanged. */
  applied: boolean;
}

export interface OnnxTrainOptions {
  providers?: readonly OnnxProvider[];
  intraOpThreads?: number;
  /** Blocked-layout convolutions on the cpu provider where this machine has them (default true). */
  blockedConvolutions?: boolean;
  /** Profile every run (onnxruntime's JSON trace, written when the session is disposed); bench/profile-train-step.ts. */
  profileFilePrefix?: string;
}

/** Dropout masks of one step, in the graph's layout, written into `into` (reused buffers) when given. */
export function dropoutMasks(
  graph: TrainGraph,
  seed: number,
  into = new Map<string, Float32Array>(),
): Map<string, Float32Array> {
  graph.dropout.forEach((d, k) => {
    let mask = into.get(d.name);
    if (!mask) into.set(d.name, (mask = new Float32Array(d.shape.reduce((a, b) => a * b, 1))));
    fillDropoutMask(mask, seed, k, d.rate);
  });
  return into;
}

export class OnnxTrainStep {
  /** Adam updates applied so far (torch's state['step']). */
  step = 0;
  /**
   * Per-parameter views (IR order, canonical layout) into three flat buffers, the graph's m / v / params_out
   * layout; after an update the views point into the buffers onnxruntime returned.
   */
  readonly weights: Float32Array[] = [];
  readonly m: Float32Array[] = [];
  readonly v: Float32Array[] = [];
  #flat: { w: Float32Array; m: Float32Array; v: Float32Array };
  /** Mask buffers, refilled every step (only after the previous run() has resolved). */
  private readonly masks = new Map<string, Float32Array>();

  private constructor(
    readonly ir: ModelIR,
    readonly graph: TrainGraph,
    private readonly session: ort.InferenceSession,
    readonly provider: OnnxProvider,
    readonly probes: ProviderProbe[],
    private readonly schedule: DiscreteSchedule,
    weights: ReadonlyMap<string, Float32Array>,
  ) {
    const total = ir.params.reduce((n, p) => n + p.shape.reduce((a, b) => a * b, 1), 0);
    this.#flat = { w: new Float32Array(total), m: new Float32Array(total), v: new Float32Array(total) };
    this.#adopt(this.#flat);
    ir.params.forEach((p, i) => {
      const w = weights.get(p.name);
      if (!w) throw new Error(`initial weights lack parameter ${p.name}`);
      if (w.length !== this.weights[i].length) throw new Error(`parameter ${p.name} has ${w.length} values`);
      this.weights[i].set(w);
    });
  }

  /** Points the per-parameter views at new flat buffers. */
  #adopt(flat: { w: Float32Array; m: Float32Array; v: Float32Array }): void {
    this.#flat = flat;
    let offset = 0;
    this.ir.params.forEach((p, i) => {
      const n = p.shape.reduce((a, b) => a * b, 1);
      this.weights[i] = flat.w.subarray(offset, offset + n);
      this.m[i] = flat.m.subarray(offset, offset + n);
      this.v[i] = flat.v.subarray(offset, offset + n);
      offset += n;
    });
  }

  static async create(
    ir: ModelIR,
    spec: TrainGraphSpec,
    schedule: DiscreteSchedule,
    weights: ReadonlyMap<string, Float32Array>,
    options: OnnxTrainOptions = {},
  ): Promise<OnnxTrainStep> {
    // Blocked convolutions where the session runs on the cpu provider (~2x faster convolutions), standard ones
    // for every other provider.
    const block = options.blockedConvolutions === false ? null : await nchwcBlockSize();
    const graphs = new Map<number | null, TrainGraph>();
    const graphFor = (provider: OnnxProvider): TrainGraph => {
      const nchwcBlock = provider === 'cpu' ? block : null;
      let g = graphs.get(nchwcBlock);
      if (!g) graphs.set(nchwcBlock, (g = buildTrainGraph(ir, { ...spec, nchwcBlock })));
      return g;
    };
    const { session, provider, probes } = await createProbedSession(
      (p) => graphFor(p).bytes,
      options.providers ?? PROVIDER_ORDER,
      options.intraOpThreads,
      options.profileFilePrefix,
    );
    return new OnnxTrainStep(ir, graphFor(provider), session, provider, probes, schedule, weights);
  }

  /** The feeds every mode shares: batch, coefficients, dropout masks, weights. */
  private feeds(batch: TrainBatch, dropoutSeed: number | null): Record<string, ort.Tensor> {
    const { ir, graph } = this;
    const B = graph.spec.batch;
    const shape = [B, ...ir.inputs.x.shape];
    if (batch.t.length !== B) throw new RangeError(`the graph trains batches of ${B}, got ${batch.t.length}`);
    const feeds: Record<string, ort.Tensor> = {
      x0: new ort.Tensor('float32', batch.x0, shape),
      eps: new ort.Tensor('float32', batch.eps, shape),
      xt: new ort.Tensor('float32', batch.xt, shape),
      t: new ort.Tensor('float32', Float32Array.from(batch.t), [B]),
    };
    if (ir.inputs.label) {
      if (!batch.labels) throw new Error('a conditional model needs labels');
      feeds.label = new ort.Tensor(
        'int64',
        BigInt64Array.from(batch.labels, (l) => BigInt(l)),
        [B],
      );
    }
    const co = timestepCoefficients(this.schedule, batch.t);
    const isFirst = Float32Array.from(batch.t, (k) => (k === 0 ? 1 : 0));
    for (const name of graph.coefficients) {
      const field = COEFFICIENT_INPUTS[name as keyof typeof COEFFICIENT_INPUTS];
      const values = field === 'isFirst' ? isFirst : Float32Array.from(co[field]);
      feeds[name] = new ort.Tensor('float32', values, [B]);
    }
    if (graph.dropout.length) {
      if (dropoutSeed === null) throw new Error('training a model with dropout needs a dropout seed');
      const masks = dropoutMasks(graph, dropoutSeed, this.masks);
      for (const d of graph.dropout) feeds[d.name] = new ort.Tensor('float32', masks.get(d.name)!, d.shape);
    }
    ir.params.forEach((p, i) => (feeds[`param:${p.name}`] = new ort.Tensor('float32', this.weights[i], p.shape)));
    return feeds;
  }

  /** Loss and raw gradients (canonical layout) at the current weights; nothing is updated. Needs a gradients graph. */
  async gradients(
    batch: TrainBatch,
    dropoutSeed: number | null = null,
  ): Promise<{ loss: number; perSample: Float32Array; grads: Map<string, Float32Array> }> {
    if (this.graph.spec.mode !== 'gradients') throw new Error('this session was built for updates');
    const out = await this.session.run(this.feeds(batch, dropoutSeed));
    const grads = new Map(this.ir.params.map((p) => [p.name, out[`grad:${p.name}`].data as Float32Array]));
    return { loss: (out.loss.data as Float32Array)[0], perSample: out.per_sample.data as Float32Array, grads };
  }

  /** One optimizer step at learning rate lr. */
  async update(batch: TrainBatch, lr: number, dropoutSeed: number | null = null): Promise<StepResult> {
    const o = this.graph.spec.optimizer;
    if (this.graph.spec.mode !== 'update' || !o) throw new Error('this session was built for gradients only');
    const feeds = this.feeds(batch, dropoutSeed);
    const n = this.step + 1;
    // Bias corrections in float64 on the host, as optimizer.ts computes them.
    const bc1 = 1 - o.beta1 ** n;
    const bc2 = 1 - o.beta2 ** n;
    feeds.step_size = new ort.Tensor('float32', Float32Array.of(lr / bc1), []);
    feeds.bias_correction2 = new ort.Tensor('float32', Float32Array.of(bc2), []);
    if (o.kind === 'adamw' && o.weightDecay)
      feeds.decay = new ort.Tensor('float32', Float32Array.of(1 - lr * o.weightDecay), []);
    feeds.m = new ort.Tensor('float32', this.#flat.m, [this.#flat.m.length]);
    feeds.v = new ort.Tensor('float32', this.#flat.v, [this.#flat.v.length]);
    const out = await this.session.run(feeds);
    const loss = (out.loss.data as Float32Array)[0];
    const gradNorm = (out.grad_norm.data as Float32Array)[0];
    const perSample = out.per_sample.data as Float32Array;
    const applied = Number.isFinite(loss) && Number.isFinite(gradNorm);
    if (applied) {
      const data = (name: string) => out[name].data as Float32Array;
      this.#adopt({ w: data('params_out'), m: data('m_out'), v: data('v_out') });
      this.step = n;
    }
    return { loss, perSample, gradNorm, applied };
  }

  /** Canonical name -> array views of the current weights (owned by this object; copy to keep). */
  params(): Map<string, Float32Array> {
    return new Map(this.ir.params.map((p, i) => [p.name, this.weights[i]]));
  }

  importState(state: {
    step: number;
    m: ReadonlyMap<string, Float32Array>;
    v: ReadonlyMap<string, Float32Array>;
  }): void {
    this.step = state.step;
    this.ir.params.forEach((p, i) => {
      const m = state.m.get(p.name);
      const v = state.v.get(p.name);
      if (!m || !v) throw new Error(`optimizer state lacks parameter ${p.name}`);
      if (m.length !== this.m[i].length || v.length !== this.v[i].length) {
        throw new Error(`optimizer state of ${p.name} has the wrong size`);
      }
      this.m[i].set(m);
      this.v[i].set(v);
    });
  }

  async dispose(): Promise<void> {
    await this.session.release();
  }
}
