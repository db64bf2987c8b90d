import { describe, expect, it } from 'vitest';
import { mergedSigmas, nearestSigmaIndex } from '../../src/renderer/src/lib/sigma-align.ts';
import { planGridTiles } from '../../src/compare/grid-tiles.ts';

describe('aligning two trajectories by noise level', () => {
  const a = [80, 20, 5, 1, 0];
  const b = [80, 40, 20, 10, 5, 2.5, 1, 0.5, 0];

  it('merges both grids into one descending axis without duplicates', () => {
    expect(mergedSigmas(a, b)).toEqual([80, 40, 20, 10, 5, 2.5, 1, 0.5, 0]);
    expect(mergedSigmas(a, a)).toEqual(a);
  });

  it('picks each cell’s step nearest in log sigma, and sigma 0 only at the end', () => {
    expect(nearestSigmaIndex(a, 20)).toBe(1);
    expect(nearestSigmaIndex(b, 20)).toBe(2);
    // 10 is a factor 2 from 20 and from 5: the first found wins; 9 is nearer 5 in log space than 20.
    expect(nearestSigmaIndex(a, 9)).toBe(2);
    expect(nearestSigmaIndex(a, 0.5)).toBe(3);
    expect(nearestSigmaIndex(a, 0)).toBe(4);
    expect(nearestSigmaIndex(b, 0)).toBe(8);
  });
});

describe('grid tiles', () => {
  const g = { left: 150, top: 66, gap: 10, cellWidth: 170, cellHeight: 178 };

  it('keeps a grid that fits in one tile and splits a large one into blocks within maxSide', () => {
    expect(planGridTiles(g, 2, 2, 8192)).toEqual([{ rows: [0, 2], cols: [0, 2] }]);
    const blocks = planGridTiles(g, 5, 7, 600);
    // (600 - 160) / 180 = 2 columns and (600 - 76) / 188 = 2 rows per tile.
    expect(blocks).toHaveLength(3 * 4);
    expect(blocks[0]).toEqual({ rows: [0, 2], cols: [0, 2] });
    expect(blocks[blocks.length - 1]).toEqual({ rows: [4, 5], cols: [6, 7] });
    const covered = new Set<string>();
    for (const b of blocks)
      for (let r = b.rows[0]; r < b.rows[1]; r++) for (let c = b.cols[0]; c < b.cols[1]; c++) covered.add(`${r},${c}`);
    expect(covered.size).toBe(35);
    expect(() => planGridTiles(g, 1, 1, 200)).toThrow(/smaller than one labeled cell \(340 x 264 px\)/);
  });
});
