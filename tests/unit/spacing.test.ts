import { describe, expect, it } from 'vitest';
import { makeSchedule } from '../../src/core/schedules.ts';
import {
  discreteSigmas,
  karrasSigmas,
  roundHalfEven,
  scheduleSigmaRange,
  sigmaToT,
  tToSigma,
  timestepSpacing,
  type Spacing,
} from '../../src/core/spacing.ts';

const rel = (a: number, b: number) => Math.abs(a - b) / Math.abs(b);

describe('timestepSpacing (diffusers definitions)', () => {
  it('T=1000, steps=10', () => {
    expect(timestepSpacing(1000, 10, 'linspace')).toEqual([999, 888, 777, 666, 555, 444, 333, 222, 111, 0]);
    expect(timestepSpacing(1000, 10, 'leading')).toEqual([900, 800, 700, 600, 500, 400, 300, 200, 100, 0]);
    expect(timestepSpacing(1000, 10, 'trailing')).toEqual([999, 899, 799, 699, 599, 499, 399, 299, 199, 99]);
  });

  it('rounds half to even like numpy.round', () => {
    expect([0.5, 1.5, 2.5, -0.5, 3.49, 3.51, 4].map(roundHalfEven)).toEqual([0, 2, 2, -0, 3, 4, 4]);
    // linspace(0, 9, 3) = [0, 4.5, 9] -> numpy gives 4, not 5.
    expect(timestepSpacing(10, 3, 'linspace')).toEqual([9, 4, 0]);
    // arange(1000, 0, -62.5): ties at 937.5 -> 938, 812.5 -> 812, ...
    expect(timestepSpacing(1000, 16, 'trailing')).toEqual([
      999, 937, 874, 811, 749, 687, 624, 561, 499, 437, 374, 311, 249, 187, 124, 61,
    ]);
  });

  it('trailing takes exactly `steps` values where numpy arange would add a spurious -1', () => {
    // np.round(np.arange(17, 0, -17/7)) - 1 = [16, 14, 11, 9, 6, 4, 1, -1]
    expect(timestepSpacing(17, 7, 'trailing')).toEqual([16, 14, 11, 9, 6, 4, 1]);
  });

  it('leading with Stable Diffusion steps_offset = 1', () => {
    const ts = timestepSpacing(1000, 50, 'leading', 1);
    expect(ts.slice(0, 3)).toEqual([981, 961, 941]);
    expect(ts[49]).toBe(1);
    expect(() => timestepSpacing(10, 10, 'leading', 1)).toThrow(/outside \[0, 9\]/);
  });

  it('edge cases: one step, and steps = T', () => {
    expect(timestepSpacing(1000, 1, 'linspace')).toEqual([0]);
    expect(timestepSpacing(1000, 1, 'leading')).toEqual([0]);
    expect(timestepSpacing(1000, 1, 'trailing')).toEqual([999]);
    const all = Array.from({ length: 50 }, (_, i) => 49 - i);
    for (const sp of ['linspace', 'leading', 'trailing'] as const) expect(timestepSpacing(50, 50, sp)).toEqual(all);
  });

  it('always gives `steps` distinct descending timesteps in [0, T-1]', () => {
    for (const T of [2, 3, 7, 17, 100, 257]) {
      for (let steps = 1; steps <= T; steps++) {
        for (const sp of ['linspace', 'leading', 'trailing'] as const) {
          const ts = timestepSpacing(T, steps, sp);
          let ok = ts.length === steps && ts[0] <= T - 1 && ts[steps - 1] >= 0;
          for (let i = 1; i < steps; i++) ok &&= ts[i] < ts[i - 1] && Number.isInteger(ts[i]);
          if (!ok) expect.fail(`${sp} T=${T} steps=${steps}: ${ts.join(',')}`);
        }
      }
    }
  });

  it('validates its arguments', () => {
    expect(() => timestepSpacing(1000, 0, 'linspace')).toThrow(/integer in \[1, T = 1000\]/);
    expect(() => timestepSpacing(1000, 1001, 'trailing')).toThrow(RangeError);
    expect(() => timestepSpacing(1000, 2.5, 'leading')).toThrow(RangeError);
    expect(() => timestepSpacing(1, 1, 'leading')).toThrow(/T must be an integer >= 2/);
    expect(() => timestepSpacing(1000, 10, 'uniform' as Spacing)).toThrow(/unknown timestep spacing "uniform"/);
    expect(() => timestepSpacing(1000, 10, 'leading', -1)).toThrow(/stepsOffset/);
  });
});

describe('discreteSigmas', () => {
  it('picks schedule sigmas at the timesteps and appends 0', () => {
    const s = makeSchedule('linear', 1000);
    const ts = timestepSpacing(1000, 10, 'trailing');
    const sig = discreteSigmas(s, ts);
    expect(sig).toBeInstanceOf(Float64Array);
    expect(sig.length).toBe(11);
    ts.forEach((t, i) => expect(sig[i]).toBe(s.sigmas[t]));
    expect(sig[10]).toBe(0);
  });

  it('rejects out-of-range, fractional or non-descending timesteps', () => {
    const s = makeSchedule('cosine', 100);
    expect(() => discreteSigmas(s, [100, 0])).toThrow(/\[0, 99\]/);
    expect(() => discreteSigmas(s, [50.5])).toThrow(RangeError);
    expect(() => discreteSigmas(s, [10, 20])).toThrow(/descending/);
    expect(() => discreteSigmas(s, [10, 10])).toThrow(/descending/);
  });
});

describe('karrasSigmas (EDM eq. 5)', () => {
  it('hits the endpoints exactly and ends with 0', () => {
    const s = karrasSigmas(18, 0.002, 80);
    expect(s.length).toBe(19);
    expect(s[0]).toBe(80);
    expect(s[17]).toBe(0.002);
    expect(s[18]).toBe(0);
    for (let i = 1; i < 19; i++) expect(s[i]).toBeLessThan(s[i - 1]);
  });

  it('interior values follow the formula', () => {
    const s = karrasSigmas(10, 0.1, 10, 7);
    const a = 10 ** (1 / 7);
    const b = 0.1 ** (1 / 7);
    for (let i = 1; i < 9; i++) expect(rel(s[i], (a + (i / 9) * (b - a)) ** 7)).toBeLessThan(1e-14);
  });

  it('one step gives [sigmaMax, 0]', () => {
    expect(Array.from(karrasSigmas(1, 0.002, 80))).toEqual([80, 0]);
  });

  it('rho = 1 is uniform in sigma; larger rho puts more steps at low noise', () => {
    const lin = karrasSigmas(5, 1, 9, 1);
    expect(Array.from(lin).map((v) => +v.toFixed(12))).toEqual([9, 7, 5, 3, 1, 0]);
    const mids = [1, 3, 7, 20].map((rho) => karrasSigmas(11, 0.01, 100, rho)[5]);
    for (let i = 1; i < mids.length; i++) expect(mids[i]).toBeLessThan(mids[i - 1]);
  });

  it('validates its arguments', () => {
    expect(() => karrasSigmas(0, 0.1, 1)).toThrow(RangeError);
    expect(() => karrasSigmas(10, 1, 1)).toThrow(/0 < sigmaMin < sigmaMax/);
    expect(() => karrasSigmas(10, 0, 1)).toThrow(RangeError);
    expect(() => karrasSigmas(10, 2, 1)).toThrow(RangeError);
    expect(() => karrasSigmas(10, 0.1, Infinity)).toThrow(RangeError);
    expect(() => karrasSigmas(10, 0.1, 1, 0)).toThrow(/rho/);
  });
});

describe('sigmaToT / tToSigma', () => {
  const schedules = [makeSchedule('linear', 1000), makeSchedule('cosine', 1000), makeSchedule('scaled-linear', 50)];

  it('integer timesteps map exactly both ways', () => {
    for (const s of schedules) {
      const bad: number[] = [];
      for (let t = 0; t < s.T; t++) if (tToSigma(s, t) !== s.sigmas[t] || sigmaToT(s, s.sigmas[t]) !== t) bad.push(t);
      expect(bad).toEqual([]);
    }
  });

  it('interpolates log sigma linearly (k-diffusion DiscreteSchedule)', () => {
    const s = schedules[0];
    const mid = Math.sqrt(s.sigmas[100] * s.sigmas[101]);
    expect(Math.abs(sigmaToT(s, mid) - 100.5)).toBeLessThan(1e-10);
    expect(rel(tToSigma(s, 100.5), mid)).toBeLessThan(1e-14);
    const q = Math.exp(0.75 * Math.log(s.sigmas[7]) + 0.25 * Math.log(s.sigmas[8]));
    expect(rel(tToSigma(s, 7.25), q)).toBeLessThan(1e-14);
  });

  it('round trips to ~1e-12 relative', () => {
    for (const s of schedules) {
      const { sigmaMin, sigmaMax } = scheduleSigmaRange(s);
      let worstSigma = 0;
      let worstT = 0;
      for (let k = 0; k <= 2000; k++) {
        const sigma = Math.exp(Math.log(sigmaMin) + (k / 2000) * (Math.log(sigmaMax) - Math.log(sigmaMin)));
        worstSigma = Math.max(worstSigma, rel(tToSigma(s, sigmaToT(s, sigma)), sigma));
        const t = (k / 2000) * (s.T - 1);
        worstT = Math.max(worstT, Math.abs(sigmaToT(s, tToSigma(s, t)) - t) / Math.max(1, t));
      }
      expect(worstSigma).toBeLessThan(1e-12);
      expect(worstT).toBeLessThan(1e-12);
    }
  });

  it('clamps sigmas outside the schedule range to its ends; tToSigma rejects t outside [0, T-1]', () => {
    const s = schedules[0];
    expect(sigmaToT(s, 1e-6)).toBe(0);
    expect(sigmaToT(s, 1e6)).toBe(999);
    expect(() => sigmaToT(s, 0)).toThrow(RangeError);
    expect(() => tToSigma(s, -0.1)).toThrow(RangeError);
    expect(() => tToSigma(s, 999.5)).toThrow(RangeError);
    expect(() => tToSigma(s, NaN)).toThrow(RangeError);
  });

  it('scheduleSigmaRange is (sigmas[0], sigmas[T-1]) and feeds karrasSigmas', () => {
    const s = schedules[0];
    const r = scheduleSigmaRange(s);
    expect(r).toEqual({ sigmaMin: s.sigmas[0], sigmaMax: s.sigmas[999] });
    const k = karrasSigmas(20, r.sigmaMin, r.sigmaMax);
    expect(sigmaToT(s, k[0])).toBe(999);
    expect(sigmaToT(s, k[19])).toBe(0);
  });
});
