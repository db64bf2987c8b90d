/**
 * The training objectives of src/train/objectives.ts (L_simple for eps / x0 / v; L_hybrid with learned-range
 * variance, stop-gradient on the mean, discretized decoder at t = 0, T / 1000 rescale) as Tape ops, term for term,
 * so both engines optimize the same function. Per-sample coefficients come in as [B] graph inputs computed in
 * float64 by timestepCoefficients.
 */
import type { Prediction } from '../../../core/parameterization.ts';
import {
  add,
  div,
  exp,
  greater,
  less,
  log,
  maximum,
  mul,
  neg,
  reduceMean,
  reshape,
  slice,
  square,
  sub,
  tanh,
  where,
} from './ops.ts';
import type { Tape, Value } from './tape.ts';

export interface LossSpec {
  prediction: Prediction;
  learnedVariance: boolean;
  /** Images in [-1, 1]: discretized decoder; vectors: a continuous Gaussian. */
  discreteData: boolean;
  /** Number of training timesteps (the VLB rescale T / 1000). */
  timesteps: number;
}

/** Per-sample [B] inputs, names as in timestepCoefficients. */
export interface LossCoefficients {
  sqrtAb: Value;
  sqrtOneMinusAb: Value;
  coefX0?: Value;
  coefXt?: Value;
  logBeta?: Value;
  logBetaTildeClipped?: Value;
  /** 1 where t = 0, else 0. */
  isFirst?: Value;
}

const LN2 = Math.LN2;

/** Mean over every axis but the batch. */
function meanFlat(t: Tape, x: Value): Value {
  const axes = Array.from({ length: x.shape.length - 1 }, (_, i) => i + 1);
  return axes.length ? reduceMean(t, x, axes) : x;
}

/** improved-diffusion's tanh approximation of the standard normal CDF. */
function approxCdf(t: Tape, x: Value): Value {
  const cubic = mul(t, mul(t, square(t, x), x), t.scalar(0.044715));
  const inner = mul(t, add(t, x, cubic), t.scalar(Math.sqrt(2 / Math.PI)));
  return mul(t, add(t, t.scalar(1), tanh(t, inner)), t.scalar(0.5));
}

function discretizedLogLikelihood(t: Tape, x: Value, mean: Value, logScale: Value): Value {
  const centered = sub(t, x, mean);
  const invStd = exp(t, neg(t, logScale));
  const cdfPlus = approxCdf(t, mul(t, invStd, add(t, centered, t.scalar(1 / 255))));
  const cdfMin = approxCdf(t, mul(t, invStd, sub(t, centered, t.scalar(1 / 255))));
  const logCdfPlus = log(t, maximum(t, cdfPlus, 1e-12));
  const logOneMinusCdfMin = log(t, maximum(t, sub(t, t.scalar(1), cdfMin), 1e-12));
  const logDelta = log(t, maximum(t, sub(t, cdfPlus, cdfMin), 1e-12));
  return where(
    t,
    less(t, x, t.scalar(-0.999)),
    logCdfPlus,
    where(t, greater(t, x, t.scalar(0.999)), logOneMinusCdfMin, logDelta),
  );
}

function gaussianLogLikelihood(t: Tape, x: Value, mean: Value, logvar: Value): Value {
  const quad = mul(t, square(t, sub(t, x, mean)), exp(t, neg(t, logvar)));
  return mul(t, add(t, add(t, t.scalar(Math.log(2 * Math.PI)), logvar), quad), t.scalar(-0.5));
}

function normalKl(t: Tape, mean1: Value, logvar1: Value, mean2: Value, logvar2: Value): Value {
  const a = add(t, sub(t, add(t, t.scalar(-1), logvar2), logvar1), exp(t, sub(t, logvar1, logvar2)));
  return mul(t, add(t, a, mul(t, square(t, sub(t, mean1, mean2)), exp(t, neg(t, logvar2)))), t.scalar(0.5));
}

/**
 * Loss of one batch. `out` is the model output in the graph's layout (channels on axis 1), x0 / eps / xt the same
 * layout. Returns the batch mean and the per-sample losses [B].
 */
export function diffusionLoss(
  t: Tape,
  spec: LossSpec,
  batch: { out: Value; x0: Value; eps: Value; xt: Value },
  co: LossCoefficients,
): { loss: Value; perSample: Value } {
  const { out, x0, eps, xt } = batch;
  const B = x0.shape[0];
  const col = [B, ...new Array(x0.shape.length - 1).fill(1)];
  const sqrtAb = reshape(t, co.sqrtAb, col);
  const sqrtOneMinusAb = reshape(t, co.sqrtOneMinusAb, col);
  const channels = x0.shape[1];
  const pred = spec.learnedVariance ? slice(t, out, 1, 0, channels) : out;
  const target =
    spec.prediction === 'eps'
      ? eps
      : spec.prediction === 'x0'
        ? x0
        : sub(t, mul(t, sqrtAb, eps), mul(t, sqrtOneMinusAb, x0));
  const mse = meanFlat(t, square(t, sub(t, pred, target)));
  if (!spec.learnedVariance) return { loss: reduceMean(t, mse, [0]), perSample: mse };

  const need = (v: Value | undefined, name: string): Value => {
    if (!v) throw new Error(`learned variance needs the ${name} coefficients`);
    return reshape(t, v, col);
  };
  const v = slice(t, out, 1, channels, 2 * channels);
  const frac = mul(t, add(t, v, t.scalar(1)), t.scalar(0.5));
  const logBeta = need(co.logBeta, 'logBeta');
  const logBetaTilde = need(co.logBetaTildeClipped, 'logBetaTildeClipped');
  const modelLogVar = add(t, mul(t, frac, logBeta), mul(t, sub(t, t.scalar(1), frac), logBetaTilde));

  const frozen = t.stopGradient(pred);
  const x0Pred =
    spec.prediction === 'x0'
      ? frozen
      : spec.prediction === 'eps'
        ? div(t, sub(t, xt, mul(t, sqrtOneMinusAb, frozen)), sqrtAb)
        : sub(t, mul(t, sqrtAb, xt), mul(t, sqrtOneMinusAb, frozen));
  const coefX0 = need(co.coefX0, 'coefX0');
  const coefXt = need(co.coefXt, 'coefXt');
  const modelMean = add(t, mul(t, coefX0, x0Pred), mul(t, coefXt, xt));
  const trueMean = add(t, mul(t, coefX0, x0), mul(t, coefXt, xt));

  const kl = mul(t, meanFlat(t, normalKl(t, trueMean, logBetaTilde, modelMean, modelLogVar)), t.scalar(1 / LN2));
  const logLik = spec.discreteData
    ? discretizedLogLikelihood(t, x0, modelMean, mul(t, modelLogVar, t.scalar(0.5)))
    : gaussianLogLikelihood(t, x0, modelMean, modelLogVar);
  const decoderNll = mul(t, meanFlat(t, logLik), t.scalar(-1 / LN2));
  if (!co.isFirst) throw new Error('learned variance needs the isFirst flags');
  const first = greater(t, co.isFirst, t.scalar(0.5));
  const vb = mul(t, where(t, first, decoderNll, kl), t.scalar(spec.timesteps / 1000));
  const total = add(t, mse, vb);
  return { loss: reduceMean(t, total, [0]), perSample: total };
}
