import { describe, expect, it } from 'vitest';
import { buildNoiseGrid } from '../../src/core/noise-grid.ts';
import { makeSchedule } from '../../src/core/schedules.ts';

describe('buildNoiseGrid', () => {
  it('vp + discrete schedule: the sigmas of the spaced timesteps, prior N(0, I)', () => {
    const g = buildNoiseGrid({ formulation: 'vp', schedule: 'linear', steps: 10 });
    const s = makeSchedule('linear', 1000);
    expect(g.timesteps).toEqual([999, 888, 777, 666, 555, 444, 333, 222, 111, 0]);
    expect(Array.from(g.sigmas)).toEqual([...g.timesteps!.map((t) => s.sigmas[t]), 0]);
    // x_T = z in VP space is z * sqrt(1 + sigma^2) = z / sqrt(abar_T) in sigma space.
    expect(g.initScale).toBeCloseTo(1 / Math.sqrt(s.alphasCumprod[999]), 9);
  });

  it('vp + karras spans the model’s own noise levels', () => {
    const g = buildNoiseGrid({ formulation: 'vp', schedule: 'karras', betaSchedule: 'cosine', steps: 5 });
    const s = makeSchedule('cosine', 1000);
    expect(g.sigmas[0]).toBe(s.sigmas[999]);
    expect(g.sigmas[4]).toBe(s.sigmas[0]);
    expect(g.sigmas[5]).toBe(0);
  });

  it('sigma + karras defaults to EDM’s range and starts at z * sigma_max', () => {
    const g = buildNoiseGrid({ formulation: 'sigma', schedule: 'karras', steps: 18 });
    expect(g.sigmas[0]).toBe(80);
    expect(g.sigmas[17]).toBeCloseTo(0.002, 15);
    expect(g.initScale).toBe(80);
    expect(g.schedule).toBeUndefined();
  });

  it('rejects what does not apply', () => {
    expect(() => buildNoiseGrid({ formulation: 'vp', schedule: 'linear', steps: 0 })).toThrow(/steps/);
    expect(() => buildNoiseGrid({ formulation: 'vp', schedule: 'linear', steps: 5, sigmaMax: 3 })).toThrow(/karras/);
    expect(() => buildNoiseGrid({ formulation: 'vp', schedule: 'linear', steps: 5, rho: -1 })).toThrow(/rho/);
  });
});
