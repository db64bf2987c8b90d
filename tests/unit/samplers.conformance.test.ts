/**
 * One suite that every sampler in the registry passes: the Sampler / StepInfo contract of src/core/types.ts.
 * The model is the exact denoiser of a small 3-D Gaussian mixture (dim 3: not a multiple of Philox's 4-value
 * blocks, so per-sample noise reads straddle blocks).
 */
import { describe, expect, it } from 'vitest';
import { MixtureDenoiser, type GaussianMixture } from '../../src/core/gmm.ts';
import { BatchNoise, initialNoise } from '../../src/core/rng.ts';
import { SAMPLERS, SAMPLER_NAMES, getSampler, type SamplerEntry } from '../../src/core/samplers/index.ts';
import { karrasSigmas } from '../../src/core/spacing.ts';
import type { NoiseSource, SampleArgs, StepInfo, Vec } from '../../src/core/types.ts';

const MIXTURE: GaussianMixture = {
  weights: [0.4, 0.6],
  means: [
    [-1.5, 0.5, 1],
    [1, -0.5, 2],
  ],
  stds: [0.3, 0.6],
};
const DIM = 3;
const SEED = 1234;

/** Karras grid (rho = 7) with `steps` steps, ending in 0 or, with end = 'min', at sigmaMin (no final 0). */
function karras(steps: number, end: 'zero' | 'min' = 'zero', sigmaMin = 0.002, sigmaMax = 80): Float64Array {
  return end === 'zero'
    ? karrasSigmas(steps, sigmaMin, sigmaMax)
    : karrasSigmas(steps + 1, sigmaMin, sigmaMax).slice(0, steps + 1);
}

/** Start of a run: z * sigma_0 for samples firstSample .. firstSample + count - 1. */
function start(count: number, sigma0: number, type: 'f32' | 'f64' = 'f64', firstSample = 0): Vec {
  const x = initialNoise(SEED, firstSample, count, DIM, type === 'f32' ? Float32Array : Float64Array);
  for (let i = 0; i < x.length; i++) x[i] *= sigma0;
  return x;
}

/** A noise source that counts its calls, to prove deterministic samplers never draw. */
class CountingNoise implements NoiseSource {
  calls = 0;
  constructor(private readonly inner: NoiseSource) {}
  normal(out: Vec): void {
    this.calls++;
    this.inner.normal(out);
  }
}

interface Run {
  result: { x: Vec; nfe: number };
  infos: StepInfo[];
  calls: number;
}

async function run(entry: SamplerEntry, sigmas: Float64Array, x: Vec, extra: Partial<SampleArgs> = {}): Promise<Run> {
  const denoiser = new MixtureDenoiser(MIXTURE);
  const infos: StepInfo[] = [];
  const count = x.length / DIM;
  const result = await entry.run({
    denoiser,
    sigmas,
    x,
    noise: new BatchNoise(SEED, 0, count, DIM),
    onStep: (info) => void infos.push(info),
    ...extra,
  });
  return { result, infos, calls: denoiser.calls };
}

const maxAbs = (a: ArrayLike<number>) => Array.from(a).reduce((m, v) => Math.max(m, Math.abs(v)), 0);

describe('sampler registry', () => {
  it('lists every sampler once, each with its metadata', () => {
    expect([...SAMPLER_NAMES].sort()).toEqual(
      ['ddim', 'ddpm', 'dpmpp-2m', 'dpmpp-2m-sde', 'euler', 'euler-ancestral', 'heun', 'lms', 'unipc'].sort(),
    );
    expect(Object.keys(SAMPLERS).sort()).toEqual([...SAMPLER_NAMES].sort());
    for (const name of SAMPLER_NAMES) {
      const e = SAMPLERS[name];
      expect(e.name).toBe(name);
      expect(e.label.length).toBeGreaterThan(0);
      expect(e.description.length).toBeGreaterThan(20);
      expect(typeof e.run).toBe('function');
      // `stochastic` describes the defaults; needsNoise answers for given options.
      expect(e.needsNoise(e.defaults)).toBe(e.stochastic);
    }
    expect(SAMPLER_NAMES.filter((n) => SAMPLERS[n].stochastic).sort()).toEqual([
      'ddpm',
      'dpmpp-2m-sde',
      'euler-ancestral',
    ]);
    expect(SAMPLERS.ddim.needsNoise({ eta: 0.5 })).toBe(true);
    expect(SAMPLERS.euler.needsNoise({ s_churn: 1 })).toBe(true);
    expect(SAMPLERS.heun.nfe(karras(10))).toBe(19);
    expect(SAMPLERS.heun.nfe(karras(10, 'min'))).toBe(20);
  });

  it('getSampler finds a sampler by name and names the choices otherwise', () => {
    expect(getSampler('heun')).toBe(SAMPLERS.heun);
    expect(() => getSampler('dpm++2m')).toThrow(
      `Unknown sampler "dpm++2m"; choose one of: ${SAMPLER_NAMES.join(', ')}`,
    );
    expect(() => getSampler('toString')).toThrow(/Unknown sampler "toString"/);
  });
});

describe.each(SAMPLER_NAMES.map((n) => [n, SAMPLERS[n]] as const))(
  '%s conforms to the sampler contract',
  (_, entry) => {
    const sigmas = karras(6);

    it.each(['f32', 'f64'] as const)('returns the input array type (%s) and leaves x untouched', async (type) => {
      const x = start(2, sigmas[0], type);
      const copy = x.slice();
      const { result, infos } = await run(entry, sigmas, x);
      expect(result.x.constructor).toBe(x.constructor);
      expect(result.x.length).toBe(x.length);
      expect(result.x).not.toBe(x);
      expect(Array.from(x)).toEqual(Array.from(copy));
      expect(Array.from(result.x).every(Number.isFinite)).toBe(true);
      for (const info of infos) {
        expect(info.x.constructor).toBe(x.constructor);
        expect(info.epsPred.constructor).toBe(x.constructor);
      }
    });

    it('calls onStep once per step, before the update, with consistent x, x0Pred and epsPred', async () => {
      const x = start(2, sigmas[0]);
      const { result, infos } = await run(entry, sigmas, x);
      const steps = sigmas.length - 1;
      expect(infos.map((s) => s.i)).toEqual([...Array(steps).keys()]);
      let lastNfe = 0;
      for (const info of infos) {
        expect(info.steps).toBe(steps);
        expect(info.sigma).toBe(sigmas[info.i]);
        expect(info.sigmaNext).toBe(sigmas[info.i + 1]);
        expect(info.x.length).toBe(x.length);
        // x = x0 + sigma * eps up to float64 rounding of eps = (x - x0) / sigma: a few ulps of the largest of them.
        const scale = Math.max(maxAbs(info.x), maxAbs(info.x0Pred), 1);
        for (let k = 0; k < x.length; k++) {
          expect(Math.abs(info.x[k] - (info.x0Pred[k] + info.sigma * info.epsPred[k]))).toBeLessThanOrEqual(
            1e-13 * scale,
          );
        }
        // nfe counts the call that produced x0Pred and grows every step.
        expect(info.nfe).toBeGreaterThan(lastNfe);
        lastNfe = info.nfe;
      }
      expect(infos[0].nfe).toBe(1);
      expect(result.nfe).toBeGreaterThanOrEqual(lastNfe);
      // Step 0 reports the caller's start point (a copy, not the caller's array).
      expect(Array.from(infos[0].x)).toEqual(Array.from(x));
      expect(infos[0].x).not.toBe(x);
    });

    it.each(['zero', 'min'] as const)(
      'reports the NFE the denoiser saw and the registry predicts (grid ending at %s)',
      async (end) => {
        const grid = karras(7, end);
        const { result, calls } = await run(entry, grid, start(2, grid[0]));
        expect(result.nfe).toBe(calls);
        expect(result.nfe).toBe(entry.nfe(grid));
      },
    );

    it('is reproducible: same seed and noise give bit-identical output; deterministic ones never draw noise', async () => {
      const x = start(3, sigmas[0]);
      const noise = new CountingNoise(new BatchNoise(SEED, 0, 3, DIM));
      const a = await run(entry, sigmas, x, { noise });
      const b = await run(entry, sigmas, x);
      expect(Array.from(a.result.x)).toEqual(Array.from(b.result.x));
      if (entry.stochastic) {
        expect(noise.calls).toBeGreaterThan(0);
        const c = await run(entry, sigmas, x, { noise: new BatchNoise(SEED + 1, 0, 3, DIM) });
        expect(Array.from(c.result.x)).not.toEqual(Array.from(a.result.x));
      } else {
        expect(noise.calls).toBe(0);
        const c = await run(entry, sigmas, x, { noise: undefined });
        expect(Array.from(c.result.x)).toEqual(Array.from(a.result.x));
      }
    });

    it('requires a noise source exactly when it is stochastic', async () => {
      const x = start(1, sigmas[0]);
      const denoiser = new MixtureDenoiser(MIXTURE);
      const p = entry.run({ denoiser, sigmas, x });
      if (entry.stochastic) {
        await expect(p).rejects.toThrow(/needs a noise source \(args\.noise/);
        expect(denoiser.calls).toBe(0);
      } else {
        await expect(p).resolves.toBeTruthy();
      }
    });

    it('stops with an AbortError when the signal is aborted, before or between steps', async () => {
      const x = start(1, sigmas[0]);
      const pre = new AbortController();
      pre.abort();
      const d0 = new MixtureDenoiser(MIXTURE);
      await expect(
        entry.run({ denoiser: d0, sigmas, x, noise: new BatchNoise(SEED, 0, 1, DIM), signal: pre.signal }),
      ).rejects.toMatchObject({ name: 'AbortError' });
      expect(d0.calls).toBe(0);

      const ctl = new AbortController();
      const d1 = new MixtureDenoiser(MIXTURE);
      let seenNfe = 0;
      const p = entry.run({
        denoiser: d1,
        sigmas,
        x,
        noise: new BatchNoise(SEED, 0, 1, DIM),
        signal: ctl.signal,
        onStep: (info) => {
          seenNfe = info.nfe;
          if (info.i === 1) ctl.abort();
        },
      });
      await expect(p).rejects.toMatchObject({ name: 'AbortError' });
      // Aborted in step 1's callback: no model call after it (Heun's second call of step 1 included).
      expect(d1.calls).toBe(seenNfe);
    });

    it('rejects invalid schedules and batches with a clear error', async () => {
      const x = start(1, 1);
      const go = (s: number[], xx: Vec = x) =>
        entry.run({
          denoiser: new MixtureDenoiser(MIXTURE),
          sigmas: Float64Array.from(s),
          x: xx,
          noise: new BatchNoise(SEED, 0, 1, DIM),
        });
      await expect(go([1])).rejects.toThrow(/at least 2 values/);
      await expect(go([])).rejects.toThrow(/at least 2 values/);
      await expect(go([1, 1, 0])).rejects.toThrow(/strictly decreasing/);
      await expect(go([0.5, 1, 0])).rejects.toThrow(/strictly decreasing/);
      await expect(go([1, NaN, 0])).rejects.toThrow(/finite/);
      await expect(go([Infinity, 1, 0])).rejects.toThrow(/finite/);
      await expect(go([1, 0.5, -0.1])).rejects.toThrow(/>= 0/);
      await expect(go([1, 0], new Float64Array(4))).rejects.toThrow(/not a multiple of denoiser.dim = 3/);
      await expect(
        entry.run({ denoiser: new MixtureDenoiser(MIXTURE), sigmas, x }, { bogus: 1 } as never),
      ).rejects.toThrow(/unknown option "bogus"/);
    });

    it.each(['zero', 'min'] as const)('runs a one-step schedule (to %s)', async (end) => {
      const grid = end === 'zero' ? Float64Array.of(10, 0) : Float64Array.of(10, 0.5);
      const x = start(2, grid[0]);
      const { result, infos } = await run(entry, grid, x);
      expect(infos).toHaveLength(1);
      expect(result.nfe).toBe(entry.nfe(grid));
      expect(Array.from(result.x).every(Number.isFinite)).toBe(true);
      if (end === 'zero') {
        // A single step onto sigma = 0 lands on the denoiser's estimate for every sampler (no noise at sigma = 0).
        const x0 = infos[0].x0Pred;
        const scale = maxAbs(x);
        for (let k = 0; k < x.length; k++) expect(Math.abs(result.x[k] - x0[k])).toBeLessThanOrEqual(1e-14 * scale);
      }
    });

    it('is batch-size invariant: a batch of 3 equals three 1-sample runs with per-sample streams', async () => {
      for (const grid of [sigmas, karras(5, 'min')]) {
        const whole = await run(entry, grid, start(3, grid[0]));
        for (let j = 0; j < 3; j++) {
          const xj = start(1, grid[0], 'f64', j);
          const one = await entry.run({
            denoiser: new MixtureDenoiser(MIXTURE),
            sigmas: grid,
            x: xj,
            noise: new BatchNoise(SEED, j, 1, DIM),
          });
          expect(Array.from(one.x)).toEqual(Array.from(whole.result.x.subarray(j * DIM, (j + 1) * DIM)));
        }
      }
    });
  },
);
