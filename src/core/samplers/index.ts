/**
 * The sampler registry: every sampler by name, with what a UI or a job needs to offer it (label, defaults,
 * whether it needs noise, its NFE for a schedule).
 */
import type { Sampler } from '../types.ts';
import { DDIM_DEFAULTS, sampleDdim } from './ddim.ts';
import { DDPM_DEFAULTS, sampleDdpm } from './ddpm.ts';
import { DPMPP_2M_DEFAULTS, sampleDpmPP2M } from './dpmpp-2m.ts';
import { DPMPP_2M_SDE_DEFAULTS, sampleDpmPP2MSde } from './dpmpp-2m-sde.ts';
import { EULER_DEFAULTS, sampleEuler } from './euler.ts';
import { EULER_ANCESTRAL_DEFAULTS, sampleEulerAncestral } from './euler-ancestral.ts';
import { HEUN_DEFAULTS, sampleHeun } from './heun.ts';
import { LMS_DEFAULTS, sampleLms } from './lms.ts';
import { UNIPC_DEFAULTS, sampleUniPC } from './unipc.ts';

export type SamplerName =
  'ddpm' | 'ddim' | 'euler' | 'euler-ancestral' | 'heun' | 'dpmpp-2m' | 'dpmpp-2m-sde' | 'unipc' | 'lms';

export type SamplerDefaults = Record<string, number | string | boolean>;

export interface SamplerEntry {
  name: SamplerName;
  label: string;
  /** Whether the sampler draws fresh noise with its default options (then args.noise is required). */
  stochastic: boolean;
  /** Whether it draws noise with the given options (e.g. DDIM with eta > 0, Euler/Heun with s_churn > 0). */
  needsNoise(options?: Record<string, unknown>): boolean;
  // eslint-disable-next-line @typescript-eslint/no-explicit-any
  run: Sampler<any>;
  /** Model evaluations for a schedule (sigmas of length steps + 1). */
  nfe(sigmas: Float64Array): number;
  defaults: SamplerDefaults;
  description: string;
}

const steps = (sigmas: Float64Array) => sigmas.length - 1;
const opt = (options: Record<string, unknown> | undefined, key: string, def: number) =>
  typeof options?.[key] === 'number' ? (options[key] as number) : def;

const entries: SamplerEntry[] = [
  {
    name: 'ddpm',
    label: 'DDPM (ancestral)',
    stochastic: true,
    needsNoise: () => true,
    run: sampleDdpm,
    nfe: steps,
    defaults: { ...DDPM_DEFAULTS },
    description:
      'Ancestral sampling from the DDPM posterior q(x_s | x_t, x0) with x0 = D(x_t). Variance beta-tilde (the true ' +
      'posterior), beta (larger), or learned (improved DDPM, needs a model with learned variance). Needs many steps.',
  },
  {
    name: 'ddim',
    label: 'DDIM',
    stochastic: false,
    needsNoise: (o) => opt(o, 'eta', DDIM_DEFAULTS.eta) > 0,
    run: sampleDdim,
    nfe: steps,
    defaults: { ...DDIM_DEFAULTS },
    description:
      'Denoising diffusion implicit models. eta = 0 is deterministic (the same update as Euler in sigma space); ' +
      'eta = 1 adds the DDPM posterior noise.',
  },
  {
    name: 'euler',
    label: 'Euler',
    stochastic: false,
    needsNoise: (o) => opt(o, 's_churn', EULER_DEFAULTS.s_churn) > 0,
    run: sampleEuler,
    nfe: steps,
    defaults: { ...EULER_DEFAULTS },
    description: 'First-order Euler steps on the probability-flow ODE (Karras et al. 2022), optional churn noise.',
  },
  {
    name: 'euler-ancestral',
    label: 'Euler ancestral',
    stochastic: true,
    needsNoise: (o) => opt(o, 'eta', EULER_ANCESTRAL_DEFAULTS.eta) > 0,
    run: sampleEulerAncestral,
    nfe: steps,
    defaults: { ...EULER_ANCESTRAL_DEFAULTS },
    description: 'Euler step down to sigma_down, then fresh noise back up to the next sigma (k-diffusion).',
  },
  {
    name: 'heun',
    label: 'Heun (EDM)',
    stochastic: false,
    needsNoise: (o) => opt(o, 's_churn', HEUN_DEFAULTS.s_churn) > 0,
    run: sampleHeun,
    nfe: (sigmas) => 2 * steps(sigmas) - (sigmas[sigmas.length - 1] === 0 ? 1 : 0),
    defaults: { ...HEUN_DEFAULTS },
    description:
      'Second-order Heun steps on the probability-flow ODE (Karras et al. 2022, Algorithm 2): two model calls per ' +
      'step, an Euler step onto sigma = 0.',
  },
  {
    name: 'dpmpp-2m',
    label: 'DPM++ 2M',
    stochastic: false,
    needsNoise: () => false,
    run: sampleDpmPP2M,
    nfe: steps,
    defaults: { ...DPMPP_2M_DEFAULTS },
    description: 'DPM-Solver++(2M): second-order multistep exponential integrator on the denoised estimate.',
  },
  {
    name: 'dpmpp-2m-sde',
    label: 'DPM++ 2M SDE',
    stochastic: true,
    needsNoise: (o) => opt(o, 'eta', DPMPP_2M_SDE_DEFAULTS.eta) > 0,
    run: sampleDpmPP2MSde,
    nfe: steps,
    defaults: { ...DPMPP_2M_SDE_DEFAULTS },
    description:
      'Stochastic DPM-Solver++(2M): solves the reverse SDE (eta = 1) with a second-order multistep correction. ' +
      'Noise comes from per-sample streams, not a Brownian tree.',
  },
  {
    name: 'unipc',
    label: 'UniPC',
    stochastic: false,
    needsNoise: () => false,
    run: sampleUniPC,
    nfe: steps,
    defaults: {
      order: UNIPC_DEFAULTS.order,
      variant: UNIPC_DEFAULTS.variant,
      lowerOrderFinal: UNIPC_DEFAULTS.lowerOrderFinal,
    },
    description:
      'Unified predictor-corrector (Zhao et al. 2023): multistep predictor plus a corrector that reuses the next ' +
      'model call, order + 1 accuracy at one model call per step.',
  },
  {
    name: 'lms',
    label: 'LMS',
    stochastic: false,
    needsNoise: () => false,
    run: sampleLms,
    nfe: steps,
    defaults: { ...LMS_DEFAULTS },
    description: 'Linear multistep (Adams-Bashforth, variable steps) on the probability-flow ODE derivative.',
  },
];

export const SAMPLERS: Readonly<Record<SamplerName, SamplerEntry>> = Object.freeze(
  Object.fromEntries(entries.map((e) => [e.name, Object.freeze(e)])) as Record<SamplerName, SamplerEntry>,
);

export const SAMPLER_NAMES: readonly SamplerName[] = Object.freeze(entries.map((e) => e.name));

export function getSampler(name: string): SamplerEntry {
  if (Object.prototype.hasOwnProperty.call(SAMPLERS, name)) return SAMPLERS[name as SamplerName];
  throw new Error(`Unknown sampler "${name}"; choose one of: ${SAMPLER_NAMES.join(', ')}`);
}
