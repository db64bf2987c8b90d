import { describe, expect, it } from 'vitest';
import { openDataset } from '../../src/data/dataset.ts';
import { TOY_CLASSES, TOY_NAMES, toyPoints } from '../../src/data/toy2d.ts';

function moments(points: Float32Array): { mean: [number, number]; variance: [number, number] } {
  const n = points.length / 2;
  const mean: [number, number] = [0, 0];
  for (let i = 0; i < n; i++) for (let a = 0; a < 2; a++) mean[a] += points[2 * i + a] / n;
  const variance: [number, number] = [0, 0];
  for (let i = 0; i < n; i++) for (let a = 0; a < 2; a++) variance[a] += (points[2 * i + a] - mean[a]) ** 2 / n;
  return { mean, variance };
}

describe('2-D toy sets', () => {
  const N = 20_000;
  const sets = Object.fromEntries(TOY_NAMES.map((name) => [name, toyPoints(name, N, 0)]));

  it.each(TOY_NAMES)('%s is centred with about unit variance per coordinate', (name) => {
    const { mean, variance } = moments(sets[name].points);
    for (const m of mean) expect(Math.abs(m)).toBeLessThan(0.03);
    // Moons keep their shape with one scale for both axes: unit variance on average, not per axis.
    if (name === 'moons') expect(Math.abs((variance[0] + variance[1]) / 2 - 1)).toBeLessThan(0.05);
    else for (const v of variance) expect(Math.abs(v - 1)).toBeLessThan(0.06);
  });

  it.each(TOY_NAMES)('%s is a pure function of (seed, point index) with labels where natural', (name) => {
    const { points, labels } = sets[name];
    const again = toyPoints(name, 100, 0);
    expect(again.points).toEqual(points.subarray(0, 200)); // a smaller set is a prefix
    expect(again.labels).toEqual(labels.subarray(0, 100));
    const other = toyPoints(name, 100, 1);
    expect(other.points).not.toEqual(again.points);
    const k = TOY_CLASSES[name];
    if (k === 0) expect(new Set(labels)).toEqual(new Set([-1]));
    else expect([...new Set(labels)].sort((a, b) => a - b)).toEqual(Array.from({ length: k }, (_, i) => i));
  });

  it('put ring points near their component on the circle, and checkerboard points on dark squares', () => {
    const ring = sets.ring;
    const r = Math.sqrt(2 * (1 - 0.01));
    for (let i = 0; i < 500; i++) {
      const a = (2 * Math.PI * ring.labels[i]) / 8;
      const d = Math.hypot(ring.points[2 * i] - r * Math.cos(a), ring.points[2 * i + 1] - r * Math.sin(a));
      expect(d).toBeLessThan(0.6); // 6 standard deviations of the 0.1 component noise in 2-D
    }
    const board = sets.checkerboard.points;
    const s = Math.sqrt(3) / 2;
    for (let i = 0; i < 2000; i++) {
      const col = Math.floor(board[2 * i] / s + 2);
      const row = Math.floor(board[2 * i + 1] / s + 2);
      expect(col >= 0 && col < 4 && row >= 0 && row < 4).toBe(true);
      expect((col + row) % 2).toBe(0);
    }
  });

  it('open through openDataset as [2] vectors', async () => {
    const d = await openDataset({ kind: 'toy', toy: 'gaussian-grid', toySize: 50, toySeed: 3 });
    expect(d).toMatchObject({ name: 'toy:gaussian-grid', size: 50, shape: [2], numClasses: 25 });
    const out = new Float32Array(3);
    const label = d.read(49, out, 1);
    const ref = toyPoints('gaussian-grid', 50, 3);
    expect(label).toBe(ref.labels[49]);
    expect(Array.from(out.subarray(1))).toEqual(Array.from(ref.points.subarray(98)));
    await expect(openDataset({ kind: 'toy', toy: 'spiral' as never })).rejects.toThrow(/unknown toy set 'spiral'/);
    await expect(openDataset({ kind: 'toy', toy: 'ring', toySize: 0 })).rejects.toThrow(RangeError);
  });
});
