import { describe, expect, it } from 'vitest';
import { imagesToGrid, unitToByte } from '../../src/io/image-grid.ts';
import { decodePng, encodePng, imagesToGridPng } from '../../src/io/png.ts';

describe('image grids', () => {
  it('map [-1, 1] to bytes with clipping and rounding', () => {
    expect([-1, 1, 0, -2, 2, Number.NaN, 0.5, -0.999].map(unitToByte)).toEqual([0, 255, 128, 0, 255, 0, 191, 0]);
  });

  it('lay out tiles row-major with padding around and between them', () => {
    // Three 2x2 gray images with values -1, 0, 1 plus a gradient pixel; 2 columns, padding 1, background 7.
    const imgs = new Float32Array(3 * 4);
    for (let i = 0; i < 3; i++) imgs.set([i - 1, i - 1, i - 1, 0.5], i * 4);
    const g = imagesToGrid(imgs, 3, 2, 2, 1, { cols: 2, padding: 1, background: 7 });
    expect([g.width, g.height, g.channels]).toEqual([7, 7, 1]);
    const at = (x: number, y: number) => g.data[y * g.width + x];
    expect([at(1, 1), at(2, 1), at(1, 2), at(2, 2)]).toEqual([0, 0, 0, 191]); // tile 0 at (1, 1)
    expect([at(4, 1), at(5, 2)]).toEqual([128, 191]); // tile 1 at (4, 1)
    expect([at(1, 4), at(2, 5)]).toEqual([255, 191]); // tile 2 at (1, 4)
    for (const [x, y] of [
      [0, 0],
      [3, 1],
      [6, 6],
      [4, 4], // the empty fourth cell
      [5, 5],
    ]) {
      expect(at(x, y)).toBe(7);
    }
  });

  it('upscale tiles by nearest neighbour', () => {
    const rgb = new Float32Array([-1, 0, 1, 1, 1, 1, -1, -1, -1, 1, -1, -1]); // one 2x2 RGB image
    const g = imagesToGrid(rgb, 1, 2, 2, 3, { padding: 0, scale: 3 });
    expect([g.width, g.height]).toEqual([6, 6]);
    const px = (x: number, y: number) => Array.from(g.data.subarray((y * 6 + x) * 3, (y * 6 + x + 1) * 3));
    expect(px(0, 0)).toEqual([0, 128, 255]);
    expect(px(2, 2)).toEqual([0, 128, 255]);
    expect(px(3, 0)).toEqual([255, 255, 255]);
    expect(px(5, 2)).toEqual([255, 255, 255]);
    expect(px(0, 3)).toEqual([0, 0, 0]);
    expect(px(5, 5)).toEqual([255, 0, 0]);
  });

  it('round-trip through PNG losslessly, RGB and grayscale', async () => {
    const n = 5;
    const rgb = Float32Array.from({ length: n * 4 * 3 * 3 }, (_, i) => Math.sin(i * 0.7));
    const grid = imagesToGrid(rgb, n, 4, 3, 3, { cols: 3, scale: 2 });
    const png = await imagesToGridPng(rgb, n, 4, 3, 3, { cols: 3, scale: 2 });
    expect(png.subarray(1, 4).toString('latin1')).toBe('PNG');
    const back = await decodePng(png);
    expect([back.width, back.height, back.channels]).toEqual([3 * 6 + 4 * 2, 2 * 8 + 3 * 2, 3]);
    expect(Buffer.from(back.data).equals(Buffer.from(grid.data))).toBe(true);

    const gray = Float32Array.from({ length: 2 * 8 * 8 }, (_, i) => (i % 17) / 8 - 1);
    const g = await decodePng(await imagesToGridPng(gray, 2, 8, 8, 1));
    expect(g.channels).toBe(1);
    expect(Buffer.from(g.data).equals(Buffer.from(imagesToGrid(gray, 2, 8, 8, 1).data))).toBe(true);
  });

  it('reject inconsistent sizes and unsupported channel counts', async () => {
    expect(() => imagesToGrid(new Float32Array(10), 1, 2, 2, 3)).toThrow(/10 values, expected 1 x 2 x 2 x 3/);
    expect(() => imagesToGrid(new Float32Array(8), 1, 2, 2, 2)).toThrow(/channels must be 1 or 3/);
    expect(() => imagesToGrid(new Float32Array(4), 1, 2, 2, 1, { scale: 1.5 })).toThrow(/scale/);
    await expect(encodePng({ width: 2, height: 2, channels: 3, data: new Uint8Array(5) })).rejects.toThrow(/5 bytes/);
  });
});
