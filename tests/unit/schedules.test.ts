import { describe, expect, it } from 'vitest';
import {
  SCHEDULE_NAMES,
  alphaBarFromSigma,
  betaSchedule,
  linspace,
  makeSchedule,
  sigmaFromAlphaBar,
  type ScheduleName,
} from '../../src/core/schedules.ts';

const rel = (a: number, b: number) => Math.abs(a - b) / Math.abs(b);

describe('betaSchedule', () => {
  it('lists the four named schedules', () => {
    expect([...SCHEDULE_NAMES]).toEqual(['linear', 'cosine', 'scaled-linear', 'sigmoid']);
  });

  it('linear: DDPM endpoints, rescaled by 1000/T (improved DDPM)', () => {
    const b = betaSchedule('linear', 1000);
    expect(b).toBeInstanceOf(Float64Array);
    expect(b.length).toBe(1000);
    expect(b[0]).toBe(1e-4);
    expect(b[999]).toBe(0.02);
    expect(rel(b[1], 1e-4 + 0.0199 / 999)).toBeLessThan(1e-14);
    const b4 = betaSchedule('linear', 4000);
    expect(b4[0]).toBe(0.25 * 1e-4);
    expect(b4[3999]).toBe(0.25 * 0.02);
  });

  it('linear T=1000: alpha-bar at the last step is 4.04e-5 (independent log-sum)', () => {
    const s = makeSchedule('linear', 1000);
    let logSum = 0;
    for (let i = 0; i < 1000; i++) logSum += Math.log1p(-(1e-4 + (i * (0.02 - 1e-4)) / 999));
    const expected = Math.exp(logSum);
    expect(Number(expected.toPrecision(3))).toBe(4.04e-5);
    expect(Number(s.alphasCumprod[999].toPrecision(3))).toBe(4.04e-5);
    expect(rel(s.alphasCumprod[999], expected)).toBeLessThan(1e-11);
  });

  it('cosine: first beta from alpha-bar(t) = f(t)/f(0), last beta clipped at 0.999', () => {
    const T = 1000;
    const f = (t: number) => Math.cos(((t / T + 0.008) / 1.008) * (Math.PI / 2)) ** 2;
    const s = makeSchedule('cosine', T);
    expect(rel(s.betas[0], 1 - f(1) / f(0))).toBeLessThan(1e-9);
    expect(s.betas[0]).toBeCloseTo(4.1284e-5, 8);
    expect(s.betas[T - 1]).toBe(0.999);
    // Unclipped, the cumulative product tracks the normalized alpha-bar closely.
    for (const t of [0, 1, 10, 100, 500, 900, 990]) expect(rel(s.alphasCumprod[t], f(t + 1) / f(0))).toBeLessThan(1e-9);
    // Only the very end is clipped.
    expect(s.betas.filter((b) => b === 0.999).length).toBeLessThan(3);
  });

  it('scaled-linear: Stable Diffusion endpoints 0.00085 and 0.012, quadratic in between', () => {
    const b = betaSchedule('scaled-linear', 1000);
    expect(rel(b[0], 0.00085)).toBeLessThan(1e-15);
    expect(rel(b[999], 0.012)).toBeLessThan(1e-15);
    const mid = (Math.sqrt(0.00085) + (Math.sqrt(0.012) - Math.sqrt(0.00085)) * (500 / 999)) ** 2;
    expect(rel(b[500], mid)).toBeLessThan(1e-14);
  });

  it('sigmoid: GeoDiff, symmetric around the middle', () => {
    const T = 1000;
    const b = betaSchedule('sigmoid', T);
    const sig = (x: number) => 1 / (1 + Math.exp(-x));
    expect(rel(b[0], sig(-6) * 0.0199 + 1e-4)).toBeLessThan(1e-14);
    expect(rel(b[T - 1], sig(6) * 0.0199 + 1e-4)).toBeLessThan(1e-14);
    for (const t of [0, 13, 400, 499]) expect(b[t] + b[T - 1 - t]).toBeCloseTo(0.0201, 15);
  });

  it('rejects bad T and unknown names with RangeError', () => {
    for (const T of [1, 0, -5, 2.5, NaN, Infinity]) expect(() => betaSchedule('cosine', T)).toThrow(/integer >= 2/);
    expect(() => betaSchedule('linear', 20)).toThrow(RangeError); // beta_T = 0.02 * 1000 / 20 = 1
    expect(() => betaSchedule('linear', 21)).not.toThrow();
    expect(() => betaSchedule('nope' as ScheduleName, 10)).toThrow(/unknown schedule "nope"/);
    expect(() => makeSchedule('scaled-linear', 1)).toThrow(RangeError);
  });
});

describe('makeSchedule', () => {
  it('defaults to T = 1000 and is float64 throughout', () => {
    const s = makeSchedule('linear');
    expect(s.T).toBe(1000);
    expect(s.name).toBe('linear');
    for (const a of [s.betas, s.alphasCumprod, s.sigmas, s.logSnr]) {
      expect(a).toBeInstanceOf(Float64Array);
      expect(a.length).toBe(1000);
    }
  });

  it('is monotone for every schedule and T: betas non-decreasing, alpha-bar and log-SNR down, sigma up', () => {
    for (const name of SCHEDULE_NAMES) {
      for (const T of [50, 1000, 4000]) {
        const s = makeSchedule(name, T);
        const bad: number[] = [];
        for (let t = 1; t < T; t++) {
          const ok =
            s.betas[t] >= s.betas[t - 1] &&
            s.alphasCumprod[t] < s.alphasCumprod[t - 1] &&
            s.sigmas[t] > s.sigmas[t - 1] &&
            s.logSnr[t] < s.logSnr[t - 1];
          if (!ok) bad.push(t);
        }
        expect(bad, `${name} T=${T}`).toEqual([]);
        expect(s.alphasCumprod[0]).toBe(1 - s.betas[0]);
        expect(s.alphasCumprod[T - 1]).toBeGreaterThan(0);
      }
    }
  });

  it('sigmas and log-SNR agree with alpha-bar (sigma = sqrt((1-abar)/abar), logSnr = -2 log sigma)', () => {
    for (const name of SCHEDULE_NAMES) {
      const s = makeSchedule(name, 1000);
      for (let t = 0; t < 1000; t += 37) {
        const abar = s.alphasCumprod[t];
        expect(rel(s.sigmas[t], Math.sqrt((1 - abar) / abar))).toBeLessThan(1e-15);
        expect(Math.abs(s.logSnr[t] + 2 * Math.log(s.sigmas[t]))).toBeLessThan(1e-12);
        expect(rel(alphaBarFromSigma(s.sigmas[t]), abar)).toBeLessThan(1e-13);
        expect(sigmaFromAlphaBar(abar)).toBe(s.sigmas[t]);
      }
    }
    // Linear T=1000: sigma range of the usual k-diffusion discrete model, about 0.0100 to 157.4.
    const lin = makeSchedule('linear', 1000);
    expect(lin.sigmas[0]).toBeCloseTo(0.0100005, 6);
    expect(lin.sigmas[999]).toBeCloseTo(157.4, 0);
  });

  it('alphaBarFromSigma and sigmaFromAlphaBar are inverse', () => {
    for (const sigma of [0.1, 1, 14.6, 80])
      expect(rel(sigmaFromAlphaBar(alphaBarFromSigma(sigma)), sigma)).toBeLessThan(1e-13);
    // At small sigma, 1 - abar cancels: ~1e-16 / sigma^2 relative (why samplers work in sigma, not alpha-bar).
    expect(rel(sigmaFromAlphaBar(alphaBarFromSigma(1e-3)), 1e-3)).toBeLessThan(1e-9);
    expect(alphaBarFromSigma(0)).toBe(1);
    expect(sigmaFromAlphaBar(1)).toBe(0);
  });
});

describe('linspace', () => {
  it('computes like numpy: start + i * step, last value exactly stop', () => {
    expect(Array.from(linspace(0, 1, 5))).toEqual([0, 0.25, 0.5, 0.75, 1]);
    expect(Array.from(linspace(3, 7, 1))).toEqual([3]);
    const l = linspace(0.1, 0.7, 7);
    expect(l[6]).toBe(0.7);
    expect(l[3]).toBe(3 * ((0.7 - 0.1) / 6) + 0.1);
  });
});
