/**
 * One whole training step as one ONNX graph: forward, loss, backward (autodiff/tape.ts), global-norm clipping and the
 * Adam / AdamW update, with weights and optimizer moments in and out. onnxruntime runs it on any execution provider;
 * the host only feeds a batch and swaps the updated tensors in (engines/onnx/train-step.ts).
 *
 * Graph interface (batch B fixed at build time; per-sample shapes as the IR's, images NHWC like every engine's
 * interface):
 *   inputs   x0, eps, xt [B, ...]; t [B] float; label [B] int64 (conditional); sqrt_ab, sqrt_one_minus_ab [B];
 *            with learned variance also coef_x0, coef_xt, log_beta, log_beta_tilde, is_first [B];
 *            dropout:<node> masks (0 or 1 / (1 - rate)) in the graph's layout; param:<name> in canonical layout;
 *            update mode: m, v [P] (every parameter's moments, flattened in IR order), and scalars step_size
 *            (lr / bias correction 1), bias_correction2, decay (AdamW: 1 - lr * weight decay).
 *   outputs  loss [], per_sample [B], grad_norm [] (before clipping); update mode: params_out, m_out, v_out [P]
 *            (flattened in IR order); gradients mode: grad:<name> (unclipped, for tests).
 * The optimizer works on one flat vector: a dozen elementwise nodes in all instead of a dozen per parameter (the
 * per-node overhead of ~2,000 tiny nodes was ~5% of a small-preset step).
 * Optimizer semantics are src/train/optimizer.ts's (torch.optim): m, v bias-corrected, eps outside the sqrt, Adam's
 * decay added to the gradient, AdamW's decoupled; clipping is torch's clip_grad_norm_ (factor max / (norm + 1e-6)).
 */
import type { Prediction } from '../../core/parameterization.ts';
import type { IrNode, ModelIR } from '../../model/ir.ts';
import { add, div, mul, reshape, sqrt, square, sub, transpose } from './autodiff/ops.ts';
import { diffusionLoss, type LossCoefficients } from './autodiff/loss.ts';
import { batchShape, modelForward } from './autodiff/model-forward.ts';
import { numel, Tape, type Value } from './autodiff/tape.ts';
import { ONNX_OPSET } from './export.ts';

export interface TrainGraphSpec {
  batch: number;
  prediction: Prediction;
  learnedVariance: boolean;
  discreteData: boolean;
  timesteps: number;
  /** 'update': a full optimizer step; 'gradients': loss and raw gradients only. */
  mode: 'update' | 'gradients';
  optimizer?: { kind: 'adam' | 'adamw'; beta1: number; beta2: number; eps: number; weightDecay: number };
  /** Global gradient-norm clip; 0 disables. */
  gradClip?: number;
  /**
   * Block size of onnxruntime CPU's blocked convolutions (nchwc.ts) to run convolutions on; absent or null: standard
   * Conv, which every execution provider runs. A graph built with it runs on the cpu provider only.
   */
  nchwcBlock?: number | null;
}

export interface DropoutInput {
  /** Graph input name. */
  name: string;
  /** IR node output it masks and its rate. */
  node: string;
  rate: number;
  /** Shape of the mask in the graph's layout, batch included. */
  shape: number[];
  /** The same mask in the IR's per-sample layout ([B, H, W, C] for images). */
  irShape: number[];
}

export interface TrainGraph {
  bytes: Uint8Array;
  spec: TrainGraphSpec;
  dropout: DropoutInput[];
  /** Names of the per-sample coefficient inputs the graph reads. */
  coefficients: string[];
}

/** Input names of the per-sample coefficients, and the timestepCoefficients field each one carries. */
export const COEFFICIENT_INPUTS = {
  sqrt_ab: 'sqrtAb',
  sqrt_one_minus_ab: 'sqrtOneMinusAb',
  coef_x0: 'coefX0',
  coef_xt: 'coefXt',
  log_beta: 'logBeta',
  log_beta_tilde: 'logBetaTildeClipped',
  is_first: 'isFirst',
} as const;

export function buildTrainGraph(ir: ModelIR, spec: TrainGraphSpec): TrainGraph {
  const t = new Tape({ nchwcBlock: spec.nchwcBlock });
  const B = spec.batch;
  const xShape = ir.inputs.x.shape;
  const image = xShape.length === 3;
  const toGraph = (v: Value): Value => (image ? transpose(t, v, [0, 3, 1, 2]) : v);
  const sampleInput = (name: string) => toGraph(t.input(name, [B, ...xShape]));
  const x0 = sampleInput('x0');
  const eps = sampleInput('eps');
  const xt = sampleInput('xt');
  const tIn = t.input('t', [B]);
  const label = ir.inputs.label ? t.input('label', [B], 'int64') : undefined;

  const coefNames: (keyof typeof COEFFICIENT_INPUTS)[] = ['sqrt_ab', 'sqrt_one_minus_ab'];
  if (spec.learnedVariance) coefNames.push('coef_x0', 'coef_xt', 'log_beta', 'log_beta_tilde', 'is_first');
  const co = Object.fromEntries(
    coefNames.map((n) => [COEFFICIENT_INPUTS[n], t.input(n, [B])]),
  ) as unknown as LossCoefficients;

  const params = new Map(ir.params.map((p) => [p.name, t.input(`param:${p.name}`, p.shape, 'float', true)]));
  const dropout: DropoutInput[] = ir.nodes
    .filter((n): n is IrNode & { op: 'dropout' } => n.op === 'dropout' && n.rate > 0)
    .map((n) => ({
      name: `dropout:${n.output}`,
      node: n.output,
      rate: n.rate,
      shape: batchShape(B, n.shape),
      irShape: [B, ...n.shape],
    }));
  const masks = new Map(dropout.map((d) => [d.node, t.input(d.name, d.shape)]));

  const out = modelForward(t, ir, { x: xt, t: tIn, label, params, dropoutMasks: masks });
  const { loss, perSample } = diffusionLoss(
    t,
    {
      prediction: spec.prediction,
      learnedVariance: spec.learnedVariance,
      discreteData: spec.discreteData,
      timesteps: spec.timesteps,
    },
    { out, x0, eps, xt },
    co,
  );
  const weights = ir.params.map((p) => params.get(p.name)!);
  const grads = t.gradients(loss, weights);
  const P = ir.params.reduce((n, p) => n + numel(p.shape), 0);
  const flat = (vs: Value[]): Value =>
    t.op(
      'Concat',
      vs.map((v) => reshape(t, v, [numel(v.shape)])),
      [P],
      { attrs: { axis: 0 } },
    );
  const gradFlat = flat(grads);
  const norm = sqrt(t, t.op('ReduceSumSquare', [gradFlat], [], { attrs: { keepdims: 0 } }));
  t.output('loss', loss);
  t.output('per_sample', perSample);
  t.output('grad_norm', norm);

  if (spec.mode === 'gradients') {
    ir.params.forEach((p, i) => t.output(`grad:${p.name}`, grads[i]));
  } else {
    const o = spec.optimizer;
    if (!o) throw new Error('an update graph needs the optimizer settings');
    const clip = spec.gradClip ?? 0;
    const factor =
      clip > 0 ? t.op('Min', [t.scalar(1), div(t, t.scalar(clip), add(t, norm, t.scalar(1e-6)))], []) : null;
    const stepSize = t.input('step_size', []);
    const bc2 = t.input('bias_correction2', []);
    const decay = o.kind === 'adamw' && o.weightDecay ? t.input('decay', []) : null;
    const w = flat(weights);
    let g = factor ? mul(t, gradFlat, factor) : gradFlat;
    if (o.kind === 'adam' && o.weightDecay) g = add(t, g, mul(t, w, t.scalar(o.weightDecay)));
    const m = add(t, mul(t, t.input('m', [P]), t.scalar(o.beta1)), mul(t, g, t.scalar(1 - o.beta1)));
    const v = add(t, mul(t, t.input('v', [P]), t.scalar(o.beta2)), mul(t, square(t, g), t.scalar(1 - o.beta2)));
    const denom = add(t, sqrt(t, div(t, v, bc2)), t.scalar(o.eps));
    const base = decay ? mul(t, w, decay) : w;
    t.output('params_out', sub(t, base, mul(t, div(t, m, denom), stepSize)));
    t.output('m_out', m);
    t.output('v_out', v);
  }

  const bytes = t.encode(
    `diffusion_studio_train_${ir.config.kind}`,
    ONNX_OPSET,
    `training step (${spec.mode}) of a ${ir.config.kind}, batch ${B}`,
  );
  return { bytes, spec, dropout, coefficients: coefNames };
}
