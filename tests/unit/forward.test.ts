import { describe, expect, it } from 'vitest';
import {
  POSTERIOR_VARIANCE_FLOOR,
  posteriorCoefficients,
  posteriorLogVariancesClipped,
  posteriorMean,
  qSample,
} from '../../src/core/forward.ts';
import { makeSchedule } from '../../src/core/schedules.ts';
import { timestepSpacing } from '../../src/core/spacing.ts';

const rel = (a: number, b: number) => Math.abs(a - b) / Math.max(Math.abs(b), 1e-300);

/**
 * q(x_s | x_t, x0) by conditioning the joint Gaussian of (x_s, x_t) given x0 (per element):
 * x_s = sqrt(a_s) x0 + sqrt(1 - a_s) e1, x_t = sqrt(a_t / a_s) x_s + sqrt(1 - a_t / a_s) e2, so
 * Var x_s = 1 - a_s, Var x_t = 1 - a_t, Cov = sqrt(a_t / a_s) (1 - a_s), and
 * E[x_s | x_t] = sqrt(a_s) x0 + Cov / Var x_t (x_t - sqrt(a_t) x0), Var = Var x_s - Cov^2 / Var x_t.
 */
function conditioned(aT: number, aS: number) {
  const cov = Math.sqrt(aT / aS) * (1 - aS);
  const k = cov / (1 - aT);
  return { coefXt: k, coefX0: Math.sqrt(aS) - k * Math.sqrt(aT), variance: 1 - aS - cov * k };
}

describe('qSample', () => {
  it('x_t = sqrt(abar) x0 + sqrt(1 - abar) eps, in the output type', () => {
    const x0 = new Float64Array([1, -2, 0.5]);
    const eps = new Float64Array([0.3, 0.1, -1]);
    const out = qSample(0.36, x0, eps, new Float32Array(3));
    expect(out).toBeInstanceOf(Float32Array);
    expect(Array.from(out)).toEqual(Array.from(new Float32Array([0.6 + 0.8 * 0.3, -1.2 + 0.08, 0.3 - 0.8])));
    expect(Array.from(qSample(1, x0, eps, new Float64Array(3)))).toEqual([1, -2, 0.5]);
    expect(() => qSample(0, x0, eps, new Float64Array(3))).toThrow(RangeError);
    expect(() => qSample(0.5, x0, eps, new Float64Array(2))).toThrow(RangeError);
  });
});

describe('posteriorCoefficients', () => {
  const lin = makeSchedule('linear', 1000);
  const cos = makeSchedule('cosine', 1000);

  it('matches Gaussian conditioning for consecutive timesteps', () => {
    for (const s of [lin, cos]) {
      for (const t of [1, 2, 10, 100, 500, 900, 998, 999]) {
        const aT = s.alphasCumprod[t];
        const aS = s.alphasCumprod[t - 1];
        const c = posteriorCoefficients(aT, aS);
        const e = conditioned(aT, aS);
        expect(rel(c.coefX0, e.coefX0)).toBeLessThan(1e-10);
        expect(rel(c.coefXt, e.coefXt)).toBeLessThan(1e-10);
        expect(rel(c.variance, e.variance)).toBeLessThan(1e-10);
        // One-step beta is the schedule's own.
        expect(rel(c.beta, s.betas[t])).toBeLessThan(1e-9);
        expect(c.logVarianceClipped).toBe(Math.log(c.variance));
      }
    }
  });

  it('matches improved-DDPM formulas for consecutive timesteps', () => {
    const t = 321;
    const b = lin.betas[t];
    const a = lin.alphasCumprod[t];
    const ap = lin.alphasCumprod[t - 1];
    const c = posteriorCoefficients(a, ap);
    expect(rel(c.coefX0, (b * Math.sqrt(ap)) / (1 - a))).toBeLessThan(1e-12);
    expect(rel(c.coefXt, ((1 - ap) * Math.sqrt(1 - b)) / (1 - a))).toBeLessThan(1e-12);
    expect(rel(c.variance, (b * (1 - ap)) / (1 - a))).toBeLessThan(1e-12);
  });

  it('matches Gaussian conditioning for respaced jumps', () => {
    for (const s of [lin, cos]) {
      const ts = timestepSpacing(1000, 10, 'trailing');
      for (let i = 0; i + 1 < ts.length; i++) {
        const aT = s.alphasCumprod[ts[i]];
        const aS = s.alphasCumprod[ts[i + 1]];
        const c = posteriorCoefficients(aT, aS);
        const e = conditioned(aT, aS);
        expect(rel(c.coefX0, e.coefX0)).toBeLessThan(1e-10);
        expect(rel(c.coefXt, e.coefXt)).toBeLessThan(1e-10);
        expect(rel(c.variance, e.variance)).toBeLessThan(1e-10);
        expect(rel(c.beta, 1 - aT / aS)).toBeLessThan(1e-15);
      }
    }
    // A single big jump, and arbitrary levels.
    for (const [aT, aS] of [
      [1e-4, 0.9999],
      [0.3, 0.7],
      [0.5, 0.5000001],
    ]) {
      const c = posteriorCoefficients(aT, aS);
      const e = conditioned(aT, aS);
      expect(rel(c.coefX0, e.coefX0)).toBeLessThan(1e-8);
      expect(rel(c.coefXt, e.coefXt)).toBeLessThan(1e-10);
      expect(rel(c.variance, e.variance)).toBeLessThan(1e-8);
    }
  });

  it('the step to abar_s = 1 returns x0 with zero variance; its log is floored at 1e-20', () => {
    const c = posteriorCoefficients(lin.alphasCumprod[0], 1);
    expect(c.coefX0).toBe(1);
    expect(c.coefXt).toBe(0);
    expect(c.variance).toBe(0);
    expect(c.logVarianceClipped).toBe(Math.log(POSTERIOR_VARIANCE_FLOOR));
    expect(rel(c.beta, lin.betas[0])).toBeLessThan(1e-12);
  });

  it('rejects pairs that are not s less noisy than t', () => {
    expect(() => posteriorCoefficients(0.5, 0.5)).toThrow(/abar_t < abar_s/);
    expect(() => posteriorCoefficients(0.6, 0.5)).toThrow(RangeError);
    expect(() => posteriorCoefficients(0, 0.5)).toThrow(RangeError);
    expect(() => posteriorCoefficients(0.5, 1.1)).toThrow(RangeError);
    expect(() => posteriorCoefficients(NaN, 0.5)).toThrow(RangeError);
  });
});

describe('posteriorMean', () => {
  it('is coefX0 x0 + coefXt xt, into any output type', () => {
    const c = posteriorCoefficients(0.2, 0.6);
    const x0 = new Float64Array([1, -1, 0.25]);
    const xt = new Float64Array([0.5, 2, -3]);
    const out = posteriorMean(c, x0, xt, new Float64Array(3));
    for (let i = 0; i < 3; i++) expect(out[i]).toBe(c.coefX0 * x0[i] + c.coefXt * xt[i]);
    const out32 = posteriorMean(c, x0, xt, new Float32Array(3));
    expect(out32).toBeInstanceOf(Float32Array);
    expect(Array.from(out32)).toEqual(Array.from(new Float32Array(out)));
    expect(() => posteriorMean(c, x0, new Float64Array(2), new Float64Array(3))).toThrow(RangeError);
  });

  it('the mean of a consecutive step equals conditioning on (x_t, x0)', () => {
    const s = makeSchedule('linear', 1000);
    const aT = s.alphasCumprod[400];
    const aS = s.alphasCumprod[399];
    const e = conditioned(aT, aS);
    const x0 = new Float64Array([0.7]);
    const xt = new Float64Array([-0.4]);
    const m = posteriorMean(posteriorCoefficients(aT, aS), x0, xt, new Float64Array(1))[0];
    const direct = Math.sqrt(aS) * 0.7 + e.coefXt * (-0.4 - Math.sqrt(aT) * 0.7);
    expect(Math.abs(m - direct)).toBeLessThan(1e-14);
  });
});

describe('posteriorLogVariancesClipped', () => {
  it('is log variance per step, the last (zero-variance) step taking the previous one (improved DDPM)', () => {
    const s = makeSchedule('linear', 1000);
    const ts = timestepSpacing(1000, 5, 'linspace'); // [999, 749, 500, 250, 0]
    const abars = ts.map((t) => s.alphasCumprod[t]);
    const lv = posteriorLogVariancesClipped(abars);
    expect(lv.length).toBe(5);
    for (let i = 0; i < 4; i++) expect(lv[i]).toBe(Math.log(posteriorCoefficients(abars[i], abars[i + 1]).variance));
    expect(lv[4]).toBe(lv[3]);
    // Consecutive full schedule: same as improved DDPM's posterior_log_variance_clipped (reversed to sampling order).
    const full = Array.from(s.alphasCumprod).reverse();
    const lvFull = posteriorLogVariancesClipped(full);
    const b1 = s.betas[1];
    const v1 = (b1 * (1 - s.alphasCumprod[0])) / (1 - s.alphasCumprod[1]);
    expect(rel(lvFull[999], Math.log(v1))).toBeLessThan(1e-10);
    expect(() => posteriorLogVariancesClipped([0.5])).toThrow(RangeError);
  });
});
