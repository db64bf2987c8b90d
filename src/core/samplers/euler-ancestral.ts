/**
 * Ancestral sampling with Euler steps: k-diffusion's sample_euler_ancestral. Each step goes deterministically down to
 * sigma_down, then adds fresh noise of std sigma_up so the marginal is back at sigmaNext
 * (sigma_down^2 + sigma_up^2 = sigmaNext^2). With eta = 1 this is DDPM's posterior step with beta-tilde variance.
 */
import type { Sampler, Vec } from '../types.ts';
import { checkRange, like, resolveOptions, runSteps } from './common.ts';

export interface EulerAncestralOptions {
  /** Fraction of the ancestral noise: 0 is Euler (deterministic), 1 the DDPM posterior. */
  eta: number;
  s_noise: number;
}

export const EULER_ANCESTRAL_DEFAULTS: EulerAncestralOptions = { eta: 1, s_noise: 1 };

/** k-diffusion's get_ancestral_step: sigma_up is capped at sigmaTo so that sigma_down stays real for eta > 1. */
export function ancestralStep(sigmaFrom: number, sigmaTo: number, eta = 1): { sigmaDown: number; sigmaUp: number } {
  if (!eta) return { sigmaDown: sigmaTo, sigmaUp: 0 };
  const sigmaUp = Math.min(
    sigmaTo,
    eta * Math.sqrt((sigmaTo * sigmaTo * (sigmaFrom * sigmaFrom - sigmaTo * sigmaTo)) / (sigmaFrom * sigmaFrom)),
  );
  return { sigmaDown: Math.sqrt(sigmaTo * sigmaTo - sigmaUp * sigmaUp), sigmaUp };
}

export const sampleEulerAncestral: Sampler<EulerAncestralOptions> = async (args, options) => {
  const o = resolveOptions('euler-ancestral', EULER_ANCESTRAL_DEFAULTS, options);
  checkRange('euler-ancestral', 'eta', o.eta, 0);
  checkRange('euler-ancestral', 's_noise', o.s_noise, 0);
  return runSteps(args, { name: 'euler-ancestral', needsNoise: o.eta > 0 }, (s, run) => {
    const { sigmaDown, sigmaUp } = ancestralStep(s.sigma, s.sigmaNext, o.eta);
    const dt = sigmaDown - s.sigma;
    const x: Vec = like(s.x);
    for (let k = 0; k < x.length; k++) x[k] = s.x[k] + s.eps[k] * dt;
    // k-diffusion adds noise whenever sigmaNext > 0; with sigma_up = 0 (eta = 0) that is a no-op, so skip the draw.
    if (s.sigmaNext > 0 && sigmaUp > 0) {
      const z = run.normal(x.length);
      const scale = o.s_noise * sigmaUp;
      for (let k = 0; k < x.length; k++) x[k] += z[k] * scale;
    }
    return x;
  });
};
