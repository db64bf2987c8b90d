/**
 * Analytic stand-ins for trained networks, built on the exact Gaussian-mixture denoiser of gmm.ts:
 * - mixtureVpModel: the mixture as a discrete-time VP model predicting eps, x0 or v ("VP form" ground truth), so the
 *   whole path a real network takes (schedule, sigmaToT, parameterization) is tested against the exact answer;
 * - classMixtureDenoiser: a class-conditional model (label k = component k) for guidance tests.
 */
import { mixtureDim, mixturePosteriorMean, type GaussianMixture } from './gmm.ts';
import { NULL_LABEL, type LabeledDenoiser } from './guidance.ts';
import { x0ToPrediction, type Prediction, type VpModel } from './parameterization.ts';
import { alphaBarFromSigma, type DiscreteSchedule } from './schedules.ts';
import { tToSigma } from './spacing.ts';
import type { DenoiserOutput, Vec } from './types.ts';

type VecConstructor = Float32ArrayConstructor | Float64ArrayConstructor;

/** A synchronous VP model that counts its calls. */
export interface MixtureVpModel extends VpModel {
  calls: number;
  predict(xt: Vec, t: number): Vec;
}

/** A synchronous labeled denoiser that counts its calls. */
export interface ClassMixtureDenoiser extends LabeledDenoiser {
  calls: number;
  denoise(x: Vec, sigma: number, labels: Int32Array): DenoiserOutput;
}

/**
 * The mixture as a VP model on a discrete schedule. predict(x_t, t): sigma = tToSigma(schedule, t),
 * abar = 1 / (1 + sigma^2), x = x_t / sqrt(abar), x0 = E[x0 | x] exactly (float64), then the requested prediction
 * (eps = (x_t - sqrt(abar) x0) / sqrt(1 - abar), v = (sqrt(abar) x_t - x0) / sqrt(1 - abar)). Returns an array of
 * x_t's type. `calls` counts predict calls.
 */
export function mixtureVpModel(g: GaussianMixture, schedule: DiscreteSchedule, prediction: Prediction): MixtureVpModel {
  const dim = mixtureDim(g);
  const model: MixtureVpModel = {
    dim,
    outputChannelsFactor: 1,
    calls: 0,
    predict(xt: Vec, t: number): Vec {
      model.calls++; // not `this`: callers may detach the method
      if (xt.length % dim !== 0) throw new RangeError(`batch of ${xt.length} values is not a multiple of dim ${dim}`);
      const sigma = tToSigma(schedule, t);
      const abar = alphaBarFromSigma(sigma);
      const alpha = Math.sqrt(abar);
      const x = new Float64Array(xt.length);
      for (let i = 0; i < x.length; i++) x[i] = xt[i] / alpha;
      const x0 = new Float64Array(xt.length);
      mixturePosteriorMean(g, x, sigma, x0);
      return x0ToPrediction(prediction, x0, xt, abar, new (xt.constructor as VecConstructor)(xt.length));
    },
  };
  return model;
}

/**
 * Exact class-conditional denoiser of a mixture: label k gives E[x0 | x, component k], NULL_LABEL the whole mixture's
 * E[x0 | x]. `calls` counts denoise calls (a guided step should cost one).
 */
export function classMixtureDenoiser(g: GaussianMixture): ClassMixtureDenoiser {
  const dim = mixtureDim(g);
  const K = g.weights.length;
  const components: GaussianMixture[] = g.means.map((mu, k) => ({ weights: [1], means: [mu], stds: [g.stds[k]] }));
  const model: ClassMixtureDenoiser = {
    dim,
    calls: 0,
    denoise(x: Vec, sigma: number, labels: Int32Array): DenoiserOutput {
      model.calls++;
      if (x.length !== labels.length * dim) {
        throw new RangeError(`batch of ${x.length} values does not match ${labels.length} labels x dim ${dim}`);
      }
      const out = new (x.constructor as VecConstructor)(x.length);
      for (let j = 0; j < labels.length; j++) {
        const k = labels[j];
        if (k !== NULL_LABEL && !(k >= 0 && k < K)) {
          throw new RangeError(`label ${k} of sample ${j} is neither NULL_LABEL (-1) nor a class in [0, ${K - 1}]`);
        }
        const o = j * dim;
        mixturePosteriorMean(
          k === NULL_LABEL ? g : components[k],
          x.subarray(o, o + dim),
          sigma,
          out.subarray(o, o + dim),
        );
      }
      return { x0: out };
    },
  };
  return model;
}
