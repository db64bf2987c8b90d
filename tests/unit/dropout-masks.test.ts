// Dropout masks of the ONNX engine: Bernoulli(1 - rate) scaled by 1 / (1 - rate), a pure function of
// (seed, node, element), independent across seeds, nodes and elements.
import { describe, expect, it } from 'vitest';
import { fillDropoutMask } from '../../src/engines/onnx/dropout-masks.ts';

const mask = (n: number, seed: number, node: number, rate: number) => {
  const m = new Float32Array(n);
  fillDropoutMask(m, seed, node, rate);
  return m;
};

describe('dropout masks', () => {
  it('drop a fraction `rate` within 5 standard errors and keep the mean at 1', () => {
    for (const rate of [0.1, 0.5]) {
      const n = 200_000;
      const m = mask(n, 2 ** 40 + 17, 3, rate);
      const dropped = m.reduce((k, v) => k + (v === 0 ? 1 : 0), 0) / n;
      expect(Math.abs(dropped - rate)).toBeLessThan(5 * Math.sqrt((rate * (1 - rate)) / n));
      const mean = m.reduce((s, v) => s + v, 0) / n;
      expect(Math.abs(mean - 1)).toBeLessThan(5 * Math.sqrt(rate / (1 - rate) / n));
      expect(new Set(m)).toEqual(new Set([0, Math.fround(1 / (1 - rate))]));
    }
  });

  it('are reproducible, and differ between seeds and nodes (agreement ~ that of independent masks)', () => {
    const n = 100_000;
    const a = mask(n, 5, 0, 0.5);
    expect(mask(n, 5, 0, 0.5)).toEqual(a);
    for (const b of [mask(n, 6, 0, 0.5), mask(n, 5, 1, 0.5), mask(n, 5 + 2 ** 32, 0, 0.5)]) {
      const agree = a.reduce((k, v, i) => k + (v === b[i] ? 1 : 0), 0) / n;
      expect(Math.abs(agree - 0.5)).toBeLessThan(5 * Math.sqrt(0.25 / n));
    }
  });

  it('have no serial correlation between neighbouring elements', () => {
    const n = 200_000;
    const m = mask(n, 9, 2, 0.5);
    let same = 0;
    for (let i = 1; i < n; i++) if (m[i] === m[i - 1]) same++;
    expect(Math.abs(same / (n - 1) - 0.5)).toBeLessThan(5 * Math.sqrt(0.25 / n));
  });

  it('rejects a rate outside [0, 1)', () => {
    expect(() => mask(4, 1, 0, 1)).toThrow(/dropout rate/);
  });
});
