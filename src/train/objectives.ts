/**
 * Training objectives (Ho et al. 2020; Nichol & Dhariwal 2021), as tfjs ops over one batch.
 *
 * - L_simple: mean squared error between the model's prediction and its target (eps, x0 or v), averaged over the
 *   dimensions of each sample, then over the batch.
 * - Learned-range variance adds the variational bound term with a stop-gradient on the mean, so that the bound
 *   trains only the variance (improved DDPM's L_hybrid = L_simple + lambda * L_vlb). As in improved-diffusion's
 *   RESCALED_MSE, the per-timestep bound term (in bits per dimension) is scaled by T / 1000; since L_vlb is
 *   estimated by T times one uniformly drawn term, this is exactly lambda = 0.001.
 *
 * Per-sample losses are returned too, for the per-timestep loss heatmap. Coefficients are float64 from the schedule,
 * uploaded per sample as float32.
 */
import * as tf from '@tensorflow/tfjs';
import type { Prediction } from '../core/parameterization.ts';
import type { DiscreteSchedule } from '../core/schedules.ts';

export interface ObjectiveSpec {
  prediction: Prediction;
  learnedVariance: boolean;
  schedule: DiscreteSchedule;
  /** Images in [-1, 1] use the discretized Gaussian decoder at t = 0; vector data a continuous Gaussian. */
  discreteData: boolean;
}

export interface LossBatch {
  /** Model output: [B, ...shape] with C channels on the last axis, or 2C with learned variance (prediction first). */
  out: tf.Tensor;
  x0: tf.Tensor;
  eps: tf.Tensor;
  xt: tf.Tensor;
  /** Integer timesteps per sample. */
  t: Int32Array;
}

export interface LossResult {
  loss: tf.Scalar;
  /** Per-sample loss (the same quantity before the batch mean). */
  perSample: tf.Tensor1D;
}

const LN2 = Math.LN2;

/** Per-sample column [B, 1, ..., 1] broadcastable against a batch of the given rank. */
function perSample(values: ArrayLike<number>, rank: number): tf.Tensor {
  const shape = [values.length, ...new Array(rank - 1).fill(1)];
  return tf.tensor(Float32Array.from(values), shape, 'float32');
}

/** Mean over every axis but the first. */
function meanFlat(x: tf.Tensor): tf.Tensor1D {
  const axes = Array.from({ length: x.rank - 1 }, (_, i) => i + 1);
  return (axes.length ? x.mean(axes) : x) as tf.Tensor1D;
}

/** Identity forward, zero gradient: tfjs has no stop_gradient op. */
export const stopGradient = tf.customGrad(((x: tf.Tensor) => ({
  value: x.clone(),
  gradFunc: (dy: tf.Tensor) => tf.zerosLike(dy),
})) as unknown as Parameters<typeof tf.customGrad>[0]) as (x: tf.Tensor) => tf.Tensor;

/** Per-timestep coefficients in float64, gathered for a batch. */
export function timestepCoefficients(schedule: DiscreteSchedule, t: Int32Array) {
  const { alphasCumprod: ab, betas } = schedule;
  const n = t.length;
  const c = {
    sqrtAb: new Float64Array(n),
    sqrtOneMinusAb: new Float64Array(n),
    coefX0: new Float64Array(n),
    coefXt: new Float64Array(n),
    logBeta: new Float64Array(n),
    logBetaTildeClipped: new Float64Array(n),
  };
  // Posterior variance of step t; improved DDPM clips t = 0 (variance 0) to the variance of t = 1.
  const betaTilde = (k: number) => (k === 0 ? 0 : (betas[k] * (1 - ab[k - 1])) / (1 - ab[k]));
  for (let i = 0; i < n; i++) {
    const k = t[i];
    const abPrev = k === 0 ? 1 : ab[k - 1];
    c.sqrtAb[i] = Math.sqrt(ab[k]);
    c.sqrtOneMinusAb[i] = Math.sqrt(1 - ab[k]);
    c.coefX0[i] = (Math.sqrt(abPrev) * betas[k]) / (1 - ab[k]);
    c.coefXt[i] = (Math.sqrt(1 - betas[k]) * (1 - abPrev)) / (1 - ab[k]);
    c.logBeta[i] = Math.log(betas[k]);
    c.logBetaTildeClipped[i] = Math.log(k === 0 ? betaTilde(1) : betaTilde(k));
  }
  return c;
}

/** The network's prediction as an x0 estimate (same formulas as src/core/parameterization.ts, in tf ops). */
function predictionToX0(
  pred: tf.Tensor,
  xt: tf.Tensor,
  prediction: Prediction,
  sqrtAb: tf.Tensor,
  sqrtOneMinusAb: tf.Tensor,
) {
  if (prediction === 'x0') return pred;
  if (prediction === 'eps') return xt.sub(sqrtOneMinusAb.mul(pred)).div(sqrtAb);
  return sqrtAb.mul(xt).sub(sqrtOneMinusAb.mul(pred)); // v
}

function target(batch: LossBatch, prediction: Prediction, sqrtAb: tf.Tensor, sqrtOneMinusAb: tf.Tensor) {
  if (prediction === 'eps') return batch.eps;
  if (prediction === 'x0') return batch.x0;
  return sqrtAb.mul(batch.eps).sub(sqrtOneMinusAb.mul(batch.x0)); // v = alpha eps - sigma x0
}

/** KL(N(mean1, e^logvar1) || N(mean2, e^logvar2)), elementwise, in nats. */
export function normalKl(mean1: tf.Tensor, logvar1: tf.Tensor, mean2: tf.Tensor, logvar2: tf.Tensor): tf.Tensor {
  return tf
    .scalar(-1)
    .add(logvar2)
    .sub(logvar1)
    .add(logvar1.sub(logvar2).exp())
    .add(mean1.sub(mean2).square().mul(logvar2.neg().exp()))
    .mul(0.5);
}

/** Fast approximation of the standard normal CDF used by improved-diffusion's decoder. */
function approxStandardNormalCdf(x: tf.Tensor): tf.Tensor {
  return tf
    .scalar(1)
    .add(
      x
        .add(x.pow(3).mul(0.044715))
        .mul(Math.sqrt(2 / Math.PI))
        .tanh(),
    )
    .mul(0.5);
}

/** log p(x) under a Gaussian discretized to 256 bins on [-1, 1] (edge bins open-ended), elementwise, in nats. */
export function discretizedGaussianLogLikelihood(x: tf.Tensor, mean: tf.Tensor, logScale: tf.Tensor): tf.Tensor {
  const centered = x.sub(mean);
  const invStd = logScale.neg().exp();
  const cdfPlus = approxStandardNormalCdf(invStd.mul(centered.add(1 / 255)));
  const cdfMin = approxStandardNormalCdf(invStd.mul(centered.sub(1 / 255)));
  const logCdfPlus = cdfPlus.maximum(1e-12).log();
  const logOneMinusCdfMin = tf.scalar(1).sub(cdfMin).maximum(1e-12).log();
  const logDelta = cdfPlus.sub(cdfMin).maximum(1e-12).log();
  return tf.where(x.less(-0.999), logCdfPlus, tf.where(x.greater(0.999), logOneMinusCdfMin, logDelta));
}

/** log N(x; mean, e^logvar), elementwise, in nats (vector data has no bins). */
function gaussianLogLikelihood(x: tf.Tensor, mean: tf.Tensor, logvar: tf.Tensor): tf.Tensor {
  return tf
    .scalar(Math.log(2 * Math.PI))
    .add(logvar)
    .add(x.sub(mean).square().mul(logvar.neg().exp()))
    .mul(-0.5);
}

/** The loss of one batch. Call inside tf.tidy / variableGrads; every intermediate is tidied by the caller. */
export function diffusionLoss(batch: LossBatch, spec: ObjectiveSpec): LossResult {
  const rank = batch.x0.rank;
  const co = timestepCoefficients(spec.schedule, batch.t);
  const sqrtAb = perSample(co.sqrtAb, rank);
  const sqrtOneMinusAb = perSample(co.sqrtOneMinusAb, rank);
  const channels = batch.x0.shape[rank - 1];
  const pred = spec.learnedVariance ? batch.out.slice(new Array(rank).fill(0), [...batch.x0.shape]) : batch.out;
  const mse = meanFlat(pred.sub(target(batch, spec.prediction, sqrtAb, sqrtOneMinusAb)).square());
  if (!spec.learnedVariance) return { loss: mse.mean() as tf.Scalar, perSample: mse };

  const begin = new Array(rank).fill(0);
  begin[rank - 1] = channels;
  const v = batch.out.slice(begin, [...batch.x0.shape]);
  const frac = v.add(1).div(2);
  const logBeta = perSample(co.logBeta, rank);
  const logBetaTilde = perSample(co.logBetaTildeClipped, rank);
  const modelLogVar = frac.mul(logBeta).add(tf.scalar(1).sub(frac).mul(logBetaTilde));

  const x0Pred = predictionToX0(stopGradient(pred), batch.xt, spec.prediction, sqrtAb, sqrtOneMinusAb);
  const coefX0 = perSample(co.coefX0, rank);
  const coefXt = perSample(co.coefXt, rank);
  const modelMean = coefX0.mul(x0Pred).add(coefXt.mul(batch.xt));
  const trueMean = coefX0.mul(batch.x0).add(coefXt.mul(batch.xt));

  const kl = meanFlat(normalKl(trueMean, logBetaTilde.broadcastTo(trueMean.shape), modelMean, modelLogVar)).div(LN2);
  const logLik = spec.discreteData
    ? discretizedGaussianLogLikelihood(batch.x0, modelMean, modelLogVar.mul(0.5))
    : gaussianLogLikelihood(batch.x0, modelMean, modelLogVar);
  const decoderNll = meanFlat(logLik).neg().div(LN2);
  const isFirst = tf.tensor1d(
    Array.from(batch.t, (k) => (k === 0 ? 1 : 0)),
    'bool',
  );
  const vb = tf.where(isFirst, decoderNll, kl).mul(spec.schedule.T / 1000) as tf.Tensor1D;
  const total = mse.add(vb) as tf.Tensor1D;
  return { loss: total.mean() as tf.Scalar, perSample: total };
}
