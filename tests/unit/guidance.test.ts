import { describe, expect, it } from 'vitest';
import { classMixtureDenoiser } from '../../src/core/analytic.ts';
import type { GaussianMixture } from '../../src/core/gmm.ts';
import { NULL_LABEL, classifierFreeGuidance, withLabels, type LabeledDenoiser } from '../../src/core/guidance.ts';
import { NormalStream } from '../../src/core/rng.ts';
import type { DenoiserOutput, Vec } from '../../src/core/types.ts';

function maxAbs(a: Vec, b: Vec): number {
  let m = 0;
  for (let i = 0; i < a.length; i++) m = Math.max(m, Math.abs(a[i] - b[i]));
  return m;
}

const mixture: GaussianMixture = {
  weights: [0.5, 0.3, 0.2],
  means: [
    [2, -1],
    [-2, 0.5],
    [0, 3],
  ],
  stds: [0.4, 0.6, 0.2],
};
const dim = 2;
const labels = new Int32Array([0, 1, 2, NULL_LABEL, 1]);

function batch(seed: number, scale = 2): Float64Array {
  const x = new Float64Array(labels.length * dim);
  new NormalStream(seed, 0, 9).fill(x);
  return x.map((v) => v * scale);
}

/** Wraps a labeled denoiser, recording each call's batch size and labels. */
function spy(inner: LabeledDenoiser) {
  const calls: { n: number; labels: number[] }[] = [];
  const model: LabeledDenoiser = {
    dim: inner.dim,
    denoise(x, sigma, l) {
      calls.push({ n: x.length / inner.dim, labels: Array.from(l) });
      return inner.denoise(x, sigma, l);
    },
  };
  return { model, calls };
}

describe('withLabels', () => {
  it('binds a copy of the labels', () => {
    const model = classMixtureDenoiser(mixture);
    const l = Int32Array.from(labels);
    const den = withLabels(model, l);
    const x = batch(2);
    const before = (den.denoise(x, 1) as DenoiserOutput).x0;
    l.fill(0);
    expect(Array.from((den.denoise(x, 1) as DenoiserOutput).x0)).toEqual(Array.from(before));
    expect(Array.from(before)).toEqual(Array.from((model.denoise(x, 1, labels) as DenoiserOutput).x0));
    expect(den.dim).toBe(dim);
    expect(() => den.denoise(new Float64Array(4), 1)).toThrow(/does not match/);
  });
});

describe('classifierFreeGuidance', () => {
  const x = batch(3);
  const sigma = 1.3;
  const exact = classMixtureDenoiser(mixture);
  const cond = (exact.denoise(x, sigma, labels) as DenoiserOutput).x0;
  const uncond = (exact.denoise(x, sigma, new Int32Array(labels.length).fill(NULL_LABEL)) as DenoiserOutput).x0;

  it('scale 1 is the conditional model, in one call without the unconditional half', () => {
    const { model, calls } = spy(exact);
    const out = (classifierFreeGuidance(model, labels, 1).denoise(x, sigma) as DenoiserOutput).x0;
    expect(Array.from(out)).toEqual(Array.from(cond));
    expect(calls).toEqual([{ n: labels.length, labels: Array.from(labels) }]);
  });

  it('scale 0 is the unconditional model', () => {
    const out = (classifierFreeGuidance(exact, labels, 0).denoise(x, sigma) as DenoiserOutput).x0;
    expect(maxAbs(out, uncond)).toBe(0);
  });

  it('is linear in the scale: D = D_uncond + scale (D_cond - D_uncond)', () => {
    for (const scale of [-1, 0.5, 2, 7.5]) {
      const out = (classifierFreeGuidance(exact, labels, scale).denoise(x, sigma) as DenoiserOutput).x0;
      const expected = uncond.map((u, i) => u + scale * (cond[i] - u));
      expect(maxAbs(out, expected)).toBeLessThan(1e-13);
    }
  });

  it('makes ONE model call per denoise, on the doubled batch [labels, NULL...]', () => {
    const { model, calls } = spy(exact);
    const den = classifierFreeGuidance(model, labels, 3);
    den.denoise(x, sigma);
    den.denoise(x, 0.2);
    expect(calls.length).toBe(2);
    expect(calls[0]).toEqual({ n: 2 * labels.length, labels: [...labels, ...Array(labels.length).fill(NULL_LABEL)] });
    const counted = classMixtureDenoiser(mixture);
    classifierFreeGuidance(counted, labels, 4).denoise(x, sigma);
    expect(counted.calls).toBe(1);
  });

  it('takes varFrac from the conditional half and keeps the batch type', async () => {
    const withVar: LabeledDenoiser = {
      dim: 1,
      denoise: async (xx, _s, l) => ({
        x0: new Float32Array(xx.length).map((_, i) => (l[i] === NULL_LABEL ? 0 : 1)),
        varFrac: new Float32Array(xx.length).map((_, i) => (l[i] === NULL_LABEL ? 0.9 : 0.1 * (i + 1))),
      }),
    };
    const r = classifierFreeGuidance(withVar, new Int32Array([0, 0]), 2).denoise(new Float32Array(2), 1);
    expect(r).toBeInstanceOf(Promise);
    const out = await r;
    expect(out.x0).toBeInstanceOf(Float32Array);
    expect(Array.from(out.x0)).toEqual([2, 2]);
    expect(Array.from(out.varFrac!)).toEqual(Array.from(new Float32Array([0.1, 0.2])));
  });

  it('does not modify x and rejects a wrong batch or a non-finite scale', () => {
    const copy = Float64Array.from(x);
    classifierFreeGuidance(exact, labels, 2).denoise(x, sigma);
    expect(Array.from(x)).toEqual(Array.from(copy));
    expect(() => classifierFreeGuidance(exact, labels, 2).denoise(new Float64Array(2), sigma)).toThrow(
      /does not match/,
    );
    expect(() => classifierFreeGuidance(exact, labels, NaN)).toThrow(RangeError);
  });
});
