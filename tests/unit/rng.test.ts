import { describe, expect, it } from 'vitest';
import { BatchNoise, NormalStream, initialNoise, philox4x32 } from '../../src/core/rng.ts';

const hex = (a: Uint32Array) => Array.from(a, (v) => v.toString(16).padStart(8, '0')).join(' ');

describe('philox4x32-10', () => {
  // Random123 tests/kat_vectors, the three "philox4x32 10" lines: counter[4] key[2] -> result[4].
  it('matches the Random123 known-answer vectors', () => {
    const out = new Uint32Array(4);
    expect(hex(philox4x32(0, 0, 0, 0, 0, 0, out))).toBe('6627e8d5 e169c58d bc57ac4c 9b00dbd8');
    const f = 0xffffffff;
    expect(hex(philox4x32(f, f, f, f, f, f, out))).toBe('408f276d 41c83b0e a20bc7c6 6d5451fd');
    expect(hex(philox4x32(0x243f6a88, 0x85a308d3, 0x13198a2e, 0x03707344, 0xa4093822, 0x299f31d0, out))).toBe(
      'd16cfe09 94fdcceb 5001e420 24126ea1',
    );
  });
});

describe('normal streams', () => {
  it('are standard normal (mean, variance, kurtosis within sampling error)', () => {
    const n = 200_000;
    const x = new Float64Array(n);
    new NormalStream(7, 0, 0).fill(x);
    let m = 0;
    for (const v of x) m += v;
    m /= n;
    let v2 = 0;
    let v4 = 0;
    for (const v of x) {
      v2 += (v - m) ** 2;
      v4 += (v - m) ** 4;
    }
    v2 /= n;
    v4 /= n;
    // Standard errors: mean 1/sqrt(n) = 0.0022, variance sqrt(2/n) = 0.0032, kurtosis sqrt(24/n) = 0.011; 5 sigma.
    expect(Math.abs(m)).toBeLessThan(0.012);
    expect(Math.abs(v2 - 1)).toBeLessThan(0.016);
    expect(Math.abs(v4 / v2 ** 2 - 3)).toBeLessThan(0.055);
  });

  it('give each sample the same noise whatever the batch split', () => {
    const dim = 13; // not a multiple of 4: reads straddle blocks
    const whole = new Float32Array(10 * dim);
    const all = new BatchNoise(42, 0, 10, dim);
    all.normal(whole);
    all.normal(whole); // second step's noise
    const parts = [new BatchNoise(42, 0, 3, dim), new BatchNoise(42, 3, 7, dim)];
    const a = new Float32Array(3 * dim);
    const b = new Float32Array(7 * dim);
    parts[0].normal(a);
    parts[0].normal(a);
    parts[1].normal(b);
    parts[1].normal(b);
    expect(Array.from(a)).toEqual(Array.from(whole.subarray(0, 3 * dim)));
    expect(Array.from(b)).toEqual(Array.from(whole.subarray(3 * dim)));
  });

  it('separate seeds, samples and purposes, and resume from a saved position', () => {
    const a = initialNoise(1, 0, 2, 8);
    const b = initialNoise(2, 0, 2, 8);
    expect(Array.from(a.subarray(0, 8))).not.toEqual(Array.from(a.subarray(8)));
    expect(Array.from(a)).not.toEqual(Array.from(b));
    const s = new NormalStream(5, 3, 1);
    const first = new Float64Array(6);
    s.fill(first);
    const pos = s.position;
    const next = new Float64Array(6);
    s.fill(next);
    const resumed = new NormalStream(5, 3, 1, pos);
    const again = new Float64Array(6);
    resumed.fill(again);
    expect(Array.from(again)).toEqual(Array.from(next));
    expect(() => new NormalStream(-1, 0, 0)).toThrow(/seed/);
    expect(() => new NormalStream(2 ** 60, 0, 0)).toThrow(/seed/);
  });

  it('handles seeds above 2^32', () => {
    const a = initialNoise(2 ** 40 + 3, 0, 1, 4);
    const b = initialNoise(3, 0, 1, 4);
    expect(Array.from(a)).not.toEqual(Array.from(b));
  });
});
