/**
 * Exact relations between samplers, single steps against the published formulas written out independently here
 * (DDPM and DDIM in their original VP form), and option handling. Float64 throughout; "equal" means equal up to a
 * few ulps of float64 (1e-12 relative) unless it is bit-for-bit by construction.
 */
import { describe, expect, it } from 'vitest';
import { MixtureDenoiser, type GaussianMixture } from '../../src/core/gmm.ts';
import { BatchNoise, initialNoise } from '../../src/core/rng.ts';
import { SAMPLERS, type SamplerName } from '../../src/core/samplers/index.ts';
import { lmsCoefficients } from '../../src/core/samplers/lms.ts';
import { karrasSigmas } from '../../src/core/spacing.ts';
import type { Denoiser, NoiseSource, StepInfo, Vec } from '../../src/core/types.ts';

const MIXTURE: GaussianMixture = {
  weights: [0.4, 0.6],
  means: [
    [-1.5, 0.5, 1],
    [1, -0.5, 2],
  ],
  stds: [0.3, 0.6],
};
const DIM = 3;
const B = 4;
const SEED = 5;
const zeroEnd = karrasSigmas(12, 0.002, 80);
const minEnd = karrasSigmas(13, 0.002, 80).slice(0, 13);

function start(sigma0: number): Float64Array {
  const x = initialNoise(SEED, 0, B, DIM, Float64Array) as Float64Array;
  for (let i = 0; i < x.length; i++) x[i] *= sigma0;
  return x;
}

async function run(
  name: SamplerName,
  sigmas: Float64Array,
  options: Record<string, unknown> = {},
  extra: { denoiser?: Denoiser; noise?: NoiseSource; x?: Vec; onStep?: (s: StepInfo) => void } = {},
): Promise<Vec> {
  const r = await SAMPLERS[name].run(
    {
      denoiser: extra.denoiser ?? new MixtureDenoiser(MIXTURE),
      sigmas,
      x: extra.x ?? start(sigmas[0]),
      noise: extra.noise ?? new BatchNoise(SEED, 0, B, DIM),
      onStep: extra.onStep,
    },
    options,
  );
  return r.x;
}

function relDiff(a: ArrayLike<number>, b: ArrayLike<number>): number {
  let d = 0;
  let m = 0;
  for (let i = 0; i < a.length; i++) {
    d = Math.max(d, Math.abs(a[i] - b[i]));
    m = Math.max(m, Math.abs(b[i]));
  }
  return d / m;
}

/** A noise source that returns the same fixed values every call: single steps can then be written out by hand. */
const fixedZ = Float64Array.from({ length: B * DIM }, (_, i) => Math.sin(1 + i) * 1.3);
const fixedNoise: NoiseSource = { normal: (out) => out.set(fixedZ) };

/** One step of a sampler from sigma to sigmaNext, with the denoiser output it saw. */
async function oneStep(name: SamplerName, sigma: number, sigmaNext: number, options: Record<string, unknown> = {}) {
  const x = start(sigma);
  let x0: Vec = new Float64Array(0);
  const y = await run(name, Float64Array.of(sigma, sigmaNext), options, {
    x,
    noise: fixedNoise,
    onStep: (s) => (x0 = s.x0Pred),
  });
  return { x, x0, y };
}

describe('relations between samplers', () => {
  it('DDIM with eta = 1 is DDPM with the beta-tilde variance, given the same noise', async () => {
    for (const grid of [zeroEnd, minEnd]) {
      expect(relDiff(await run('ddim', grid, { eta: 1 }), await run('ddpm', grid))).toBeLessThan(1e-12);
    }
  });

  it('DDIM with eta is Euler ancestral with the same eta (sigma_up, sigma_down agree), given the same noise', async () => {
    for (const eta of [0.3, 1]) {
      expect(relDiff(await run('ddim', zeroEnd, { eta }), await run('euler-ancestral', zeroEnd, { eta }))).toBeLessThan(
        1e-12,
      );
    }
  });

  it('DPM++ 2M SDE with eta = 0 (midpoint) is DPM++ 2M', async () => {
    for (const grid of [zeroEnd, minEnd]) {
      expect(relDiff(await run('dpmpp-2m-sde', grid, { eta: 0 }), await run('dpmpp-2m', grid))).toBeLessThan(1e-12);
    }
  });

  it('UniPC order 2 (bh2) without its corrector is DPM++ 2M; order 1 without it is DDIM', async () => {
    const all = [...Array(20).keys()];
    const unipc2 = { order: 2, variant: 'bh2', disableCorrector: all };
    // lowerOrderFinal off on a grid ending at sigma_min: every step after the first is second order in both.
    expect(
      relDiff(await run('unipc', minEnd, { ...unipc2, lowerOrderFinal: false }), await run('dpmpp-2m', minEnd)),
    ).toBeLessThan(1e-12);
    // Ending in 0, both drop to first order on the last step (DPM++ 2M always, UniPC by lowerOrderFinal).
    expect(relDiff(await run('unipc', zeroEnd, unipc2), await run('dpmpp-2m', zeroEnd))).toBeLessThan(1e-12);
    expect(
      relDiff(await run('unipc', minEnd, { order: 1, disableCorrector: all }), await run('ddim', minEnd)),
    ).toBeLessThan(1e-12);
  });

  it('the UniPC corrector changes the result and is switched off per step by disableCorrector', async () => {
    const full = await run('unipc', minEnd);
    const none = await run('unipc', minEnd, { disableCorrector: [...Array(12).keys()] });
    const lastOnly = await run('unipc', minEnd, { disableCorrector: [10] });
    expect(relDiff(full, none)).toBeGreaterThan(1e-6);
    expect(relDiff(full, lastOnly)).toBeGreaterThan(0);
    // Step 11's result is never corrected (no model call at the final sigma), so disabling it changes nothing.
    expect(Array.from(await run('unipc', minEnd, { disableCorrector: [11] }))).toEqual(Array.from(full));
  });

  it.each([
    ['ddpm', { variance: 'beta' }],
    ['ddpm', { variance: 'beta-tilde' }],
    ['ddim', { eta: 1 }],
    ['euler-ancestral', {}],
    ['dpmpp-2m-sde', {}],
    ['dpmpp-2m-sde', { solver_type: 'heun' }],
  ] as const)('%s %j adds no noise on the step to sigma = 0: the result is the last x0Pred', async (name, options) => {
    let last: Vec = new Float64Array(0);
    const y = await run(name, zeroEnd, options, { onStep: (s) => (last = s.x0Pred) });
    expect(relDiff(y, last)).toBeLessThan(1e-14);
  });

  it('UniPC steps onto sigma = 0 at first order even with lowerOrderFinal off (the multistep terms diverge there)', async () => {
    for (const order of [1, 2, 3]) {
      for (const variant of ['bh1', 'bh2']) {
        let last: Vec = new Float64Array(0);
        const y = await run(
          'unipc',
          zeroEnd,
          { order, variant, lowerOrderFinal: false },
          { onStep: (s) => (last = s.x0Pred) },
        );
        expect(relDiff(y, last), `order ${order} ${variant}`).toBeLessThan(1e-14);
      }
    }
  });

  it('Euler with churn: needs noise, reports sigma_hat, and equals plain Euler when no sigma is in [s_tmin, s_tmax]', async () => {
    await expect(
      SAMPLERS.euler.run({ denoiser: new MixtureDenoiser(MIXTURE), sigmas: zeroEnd, x: start(80) }, { s_churn: 1 }),
    ).rejects.toThrow(/needs a noise source/);
    const sigmas: number[] = [];
    const churned = await run('euler', zeroEnd, { s_churn: 2 }, { onStep: (s) => void sigmas.push(s.sigma) });
    const gamma = Math.min(2 / 12, Math.SQRT2 - 1);
    expect(sigmas[3]).toBeCloseTo(zeroEnd[3] * (1 + gamma), 12);
    expect(relDiff(churned, await run('euler', zeroEnd))).toBeGreaterThan(1e-6);
    let draws = 0;
    const counting: NoiseSource = { normal: (out) => (draws++, out.fill(0)) };
    const off = await run('euler', zeroEnd, { s_churn: 2, s_tmin: 100 }, { noise: counting });
    expect(Array.from(off)).toEqual(Array.from(await run('euler', zeroEnd)));
    expect(draws).toBe(0);
  });
});

describe('single steps match the published formulas', () => {
  const sigma = 3;
  const next = 1.2;
  const abarT = 1 / (1 + sigma * sigma);
  const abarS = 1 / (1 + next * next);

  it.each(['beta', 'beta-tilde'] as const)(
    'DDPM (%s) is the VP posterior step of Ho et al. with abar = 1 / (1 + sigma^2)',
    async (variance) => {
      const { x, x0, y } = await oneStep('ddpm', sigma, next, { variance });
      const alpha = abarT / abarS;
      const beta = 1 - alpha;
      const v = variance === 'beta' ? beta : ((1 - abarS) / (1 - abarT)) * beta;
      const want = Array.from(x, (xi, k) => {
        const xVp = Math.sqrt(abarT) * xi;
        const mean =
          ((Math.sqrt(abarS) * beta) / (1 - abarT)) * x0[k] + ((Math.sqrt(alpha) * (1 - abarS)) / (1 - abarT)) * xVp;
        return (mean + Math.sqrt(v) * fixedZ[k]) / Math.sqrt(abarS);
      });
      expect(relDiff(y, want)).toBeLessThan(1e-13);
    },
  );

  it('DDIM (eta = 0.6) is the VP update of Song et al.', async () => {
    const eta = 0.6;
    const { x, x0, y } = await oneStep('ddim', sigma, next, { eta });
    const sd = eta * Math.sqrt((1 - abarS) / (1 - abarT)) * Math.sqrt(1 - abarT / abarS);
    const want = Array.from(x, (xi, k) => {
      const xVp = Math.sqrt(abarT) * xi;
      const eps = (xVp - Math.sqrt(abarT) * x0[k]) / Math.sqrt(1 - abarT);
      return (Math.sqrt(abarS) * x0[k] + Math.sqrt(1 - abarS - sd * sd) * eps + sd * fixedZ[k]) / Math.sqrt(abarS);
    });
    expect(relDiff(y, want)).toBeLessThan(1e-13);
  });

  it('Euler ancestral uses k-diffusion get_ancestral_step', async () => {
    const { x, x0, y } = await oneStep('euler-ancestral', sigma, next, { eta: 0.7, s_noise: 0.9 });
    const up = Math.min(next, 0.7 * Math.sqrt((next ** 2 * (sigma ** 2 - next ** 2)) / sigma ** 2));
    const down = Math.sqrt(next ** 2 - up ** 2);
    const want = Array.from(x, (xi, k) => x0[k] + down * ((xi - x0[k]) / sigma) + 0.9 * up * fixedZ[k]);
    expect(relDiff(y, want)).toBeLessThan(1e-13);
  });

  it('DPM++ 2M SDE first step: exponential integrator with e^{-eta h} damping and its exact noise', async () => {
    const eta = 0.8;
    const { x, x0, y } = await oneStep('dpmpp-2m-sde', sigma, next, { eta });
    const h = Math.log(sigma / next);
    const want = Array.from(
      x,
      (xi, k) =>
        (next / sigma) * Math.exp(-eta * h) * xi +
        (1 - Math.exp(-(1 + eta) * h)) * x0[k] +
        next * Math.sqrt(1 - Math.exp(-2 * eta * h)) * fixedZ[k],
    );
    expect(relDiff(y, want)).toBeLessThan(1e-13);
  });

  it('Heun: trapezoid of the derivatives at both ends', async () => {
    const { x, x0, y } = await oneStep('heun', sigma, next);
    const d = Array.from(x, (xi, k) => (xi - x0[k]) / sigma);
    const x2 = Float64Array.from(x, (xi, k) => xi + d[k] * (next - sigma));
    const x0b = new MixtureDenoiser(MIXTURE).denoise(x2, next).x0;
    const want = Array.from(x, (xi, k) => xi + ((d[k] + (x2[k] - x0b[k]) / next) / 2) * (next - sigma));
    expect(relDiff(y, want)).toBeLessThan(1e-14);
  });

  it('DDPM learned variance interpolates log beta and log beta-tilde with varFrac', async () => {
    const withFrac = (f: number): Denoiser => {
      const inner = new MixtureDenoiser(MIXTURE);
      return {
        dim: DIM,
        denoise: (x, s) => ({ x0: inner.denoise(x, s).x0, varFrac: new Float64Array(x.length).fill(f) }),
      };
    };
    for (const grid of [zeroEnd, minEnd]) {
      const learned0 = await run('ddpm', grid, { variance: 'learned' }, { denoiser: withFrac(0) });
      const learned1 = await run('ddpm', grid, { variance: 'learned' }, { denoiser: withFrac(1) });
      expect(relDiff(learned0, await run('ddpm', grid, { variance: 'beta-tilde' }))).toBeLessThan(1e-13);
      expect(relDiff(learned1, await run('ddpm', grid, { variance: 'beta' }))).toBeLessThan(1e-13);
    }
    // One step, frac = 0.25: std = exp(0.5 (0.25 log beta + 0.75 log beta-tilde)) in VP, / sqrt(abar_s) in sigma.
    const x = start(sigma);
    let x0: Vec = new Float64Array(0);
    const y = await run(
      'ddpm',
      Float64Array.of(sigma, next),
      { variance: 'learned' },
      {
        denoiser: withFrac(0.25),
        x,
        noise: fixedNoise,
        onStep: (s) => (x0 = s.x0Pred),
      },
    );
    const beta = 1 - abarT / abarS;
    const betaTilde = ((1 - abarS) / (1 - abarT)) * beta;
    const std = Math.exp(0.5 * (0.25 * Math.log(beta) + 0.75 * Math.log(betaTilde))) / Math.sqrt(abarS);
    const want = Array.from(x, (xi, k) => x0[k] + ((next * next) / (sigma * sigma)) * (xi - x0[k]) + std * fixedZ[k]);
    expect(relDiff(y, want)).toBeLessThan(1e-13);
    await expect(run('ddpm', zeroEnd, { variance: 'learned' })).rejects.toThrow(
      /needs a denoiser that returns varFrac/,
    );
  });
});

describe('LMS coefficients', () => {
  it('are Adams-Bashforth 4 on equally spaced sigmas: h (55, -59, 37, -9) / 24', () => {
    const t = [10, 9, 8, 7, 6];
    const c = lmsCoefficients(t, 3, 4);
    [55, -59, 37, -9].forEach((v, j) => expect(c[j]).toBeCloseTo((-1 * v) / 24, 14));
    expect(lmsCoefficients(t, 0, 1)).toEqual([-1]);
    expect(() => lmsCoefficients(t, 1, 3)).toThrow(/order 3 too high for step 1/);
  });

  it('integrate every polynomial of degree < order exactly on uneven nodes', () => {
    const t = karrasSigmas(9, 0.002, 80);
    for (let order = 1; order <= 4; order++) {
      for (let deg = 0; deg < order; deg++) {
        for (let i = order - 1; i < 8; i++) {
          const c = lmsCoefficients(t, i, order);
          const got = c.reduce((acc, cj, j) => acc + cj * t[i - j] ** deg, 0);
          const want = (t[i + 1] ** (deg + 1) - t[i] ** (deg + 1)) / (deg + 1);
          expect(Math.abs(got - want)).toBeLessThanOrEqual(1e-12 * Math.max(1, Math.abs(t[i]) ** (deg + 1)));
        }
      }
    }
  });
});

describe('option validation', () => {
  it.each([
    ['ddim', { eta: 1.5 }, /"eta" must be in \[0, 1\]/],
    ['ddim', { eta: '0.5' }, /"eta" must be a number/],
    ['ddpm', { variance: 'large' }, /"variance" must be one of beta, beta-tilde, learned/],
    ['unipc', { order: 4 }, /"order" must be 1, 2 or 3/],
    ['unipc', { variant: 'bh3' }, /"variant" must be 'bh1' or 'bh2'/],
    ['lms', { order: 0 }, /"order" must be an integer/],
    ['dpmpp-2m-sde', { solver_type: 'rk4' }, /"solver_type" must be 'midpoint' or 'heun'/],
    ['euler-ancestral', { eta: -1 }, /"eta" must be in/],
    ['euler', { sChurn: 1 }, /unknown option "sChurn"; options are: s_churn, s_tmin, s_tmax, s_noise/],
    ['dpmpp-2m', { eta: 1 }, /unknown option "eta"; options are: \(none\)/],
  ] as const)('%s rejects %j', async (name, options, message) => {
    await expect(run(name, zeroEnd, options as Record<string, unknown>)).rejects.toThrow(message);
  });

  it('every registry entry accepts its own defaults', async () => {
    for (const entry of Object.values(SAMPLERS)) {
      await expect(run(entry.name, zeroEnd, { ...entry.defaults })).resolves.toHaveLength(B * DIM);
    }
  });
});
