/**
 * Trajectory pictures: strip layout and pixels, APNG frame control chunks, GIF frames, provenance chunks and
 * sidecars, and the `sample` flags for a Gaussian mixture (2-D scatters) and a tiny trained toy run.
 */
import { cliCapture } from './helpers/run-cli.ts';
import { existsSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import sharp from 'sharp';
import { describe, expect, it } from 'vitest';
import { apngInfo } from '../../src/io/apng.ts';
import { imagesToGrid } from '../../src/io/image-grid.ts';
import { decodePng } from '../../src/io/png.ts';
import { readPngText } from '../../src/io/png-text.ts';
import {
  chooseSteps,
  stripLayout,
  trajectoryAnimation,
  trajectoryStripPng,
  type TrajectoryData,
} from '../../src/io/trajectory-export.ts';

const dir = mkdtempSync(join(tmpdir(), 'ds-traj-'));

const cli = (...args: string[]) => cliCapture(args);

/** A deterministic 8x8x1 trajectory: noise at the start, a blob per sample at the end. */
function imageTrajectory(steps: number, n: number): TrajectoryData {
  const dim = 64;
  const sigmas = Array.from({ length: steps + 1 }, (_, i) => (i === steps ? 0 : 10 * (1 - i / steps)));
  const clean = new Float32Array(n * dim);
  for (let j = 0; j < n; j++) for (let p = 0; p < dim; p++) clean[j * dim + p] = p % 8 === j % 8 ? 0.9 : -0.9; // a vertical bar per sample
  let seed = 7;
  const rand = () => ((seed = (seed * 1103515245 + 12345) >>> 0) / 2 ** 32) * 2 - 1;
  const x = new Float32Array((steps + 1) * n * dim);
  const x0 = new Float32Array(steps * n * dim);
  for (let s = 0; s <= steps; s++) {
    const a = s / steps;
    for (let i = 0; i < n * dim; i++) {
      x[s * n * dim + i] = a * clean[i] + (1 - a) * rand();
      if (s < steps) x0[s * n * dim + i] = clean[i] * (0.5 + a / 2);
    }
  }
  return { shape: [8, 8, 1], n, sigmas, x, x0 };
}

describe('trajectory strip and animation', () => {
  it('chooses at most 16 columns including the first and last step', () => {
    expect(chooseSteps(5)).toEqual([0, 1, 2, 3, 4, 5]);
    const many = chooseSteps(50);
    expect(many.length).toBe(16);
    expect(many[0]).toBe(0);
    expect(many.at(-1)).toBe(50);
    expect(chooseSteps(10, 16, 4)).toEqual([0, 4, 8, 10]);
  });

  it('draws image rows and step columns: noise first, the final samples last', async () => {
    const t = imageTrajectory(20, 5);
    const L = stripLayout(t, { samples: 3 });
    expect(L.rows).toBe(3);
    expect(L.columns.length).toBe(16);
    const png = await trajectoryStripPng(t, { samples: 3 });
    const img = await decodePng(png);
    expect(img).toMatchObject({ width: L.width, height: L.height, channels: 3 });
    const tileGray = (band: 0 | 1, row: number, col: number) => {
      const { left, top } = L.tile(band, row, col);
      const out: number[] = [];
      for (let y = 0; y < L.tileHeight; y++)
        for (let x = 0; x < L.tileWidth; x++) out.push(img.data[((top + y) * img.width + left + x) * 3]);
      return out;
    };
    const last = L.columns.length - 1;
    for (let r = 0; r < 3; r++) {
      // The last x_t column is the sample itself, pixel for pixel as the samples' own grid draws it.
      const scale = L.tileWidth / 8;
      const expected = imagesToGrid(t.x.subarray((20 * 5 + r) * 64, (20 * 5 + r + 1) * 64), 1, 8, 8, 1, {
        padding: 0,
        scale,
      });
      expect(tileGray(0, r, last)).toEqual(Array.from(expected.data));
      // The first column is noise: many distinct levels, no bar structure.
      expect(new Set(tileGray(0, r, 0)).size).toBeGreaterThan(20);
    }
  });

  it('draws one scatter per step for 2-D points', async () => {
    const steps = 4;
    const n = 200;
    const x = new Float32Array((steps + 1) * n * 2).map((_, i) => Math.sin(i * 12.9898) * 2);
    const t: TrajectoryData = { shape: [2], n, sigmas: [4, 2, 1, 0.5, 0], x, x0: x.slice(0, steps * n * 2) };
    const L = stripLayout(t);
    expect(L.rows).toBe(1);
    expect(L.columns).toEqual([0, 1, 2, 3, 4]);
    expect(await decodePng(await trajectoryStripPng(t))).toMatchObject({ width: L.width, height: L.height });
  });

  it('writes an APNG with one fcTL per frame and a GIF that decodes to the same frame count', async () => {
    const t = imageTrajectory(6, 4);
    const apng = await trajectoryAnimation(t, { format: 'apng', delayMs: 80, text: { Software: 'test' } });
    expect(apng.frames).toEqual([0, 1, 2, 3, 4, 5, 6]);
    const info = apngInfo(apng.bytes);
    expect(info.frames).toBe(7);
    expect(info.delaysMs).toEqual([80, 80, 80, 80, 80, 80, 1000]);
    expect(readPngText(apng.bytes)).toEqual({ Software: 'test' });
    // A plain PNG reader sees frame 0.
    expect((await sharp(apng.bytes).metadata()).format).toBe('png');
    const gif = await trajectoryAnimation(t, { format: 'gif', delayMs: 80 });
    const meta = await sharp(gif.bytes, { animated: true }).metadata();
    expect(meta).toMatchObject({ format: 'gif', pages: 7 });
  });
});

describe('sample --trajectory-png / --animation', () => {
  it('draws a Gaussian mixture trajectory as scatters, with provenance', async () => {
    const mix = join(dir, 'mix.json');
    writeFileSync(
      mix,
      JSON.stringify({
        weights: [0.5, 0.5],
        means: [
          [-2, 0],
          [2, 1],
        ],
        stds: [0.3, 0.5],
      }),
    );
    const strip = join(dir, 'gmm-strip.png');
    const anim = join(dir, 'gmm-anim.png');
    const r = await cli(
      ...['sample', '--model', `gmm:${mix}`, '--steps', '8', '--n', '300', '--seed', '3'],
      ...['--out', join(dir, 'gmm.npy'), '--trajectory-png', strip, '--animation', anim, '--frame-delay', '50'],
    );
    expect(r.err).toBe('');
    expect(r.code).toBe(0);
    expect(r.out).toContain(strip);
    const text = readPngText(readFileSync(strip));
    expect(text).toMatchObject({ kind: 'trajectory-strip', sampler: 'euler', steps: '8', seed: '3' });
    expect(JSON.parse(text.sigmas)).toHaveLength(9);
    expect(JSON.parse(readFileSync(`${strip}.json`, 'utf8'))).toMatchObject({
      shownSteps: [0, 1, 2, 3, 4, 5, 6, 7, 8],
    });
    expect(apngInfo(readFileSync(anim)).frames).toBe(9);
    expect(readPngText(readFileSync(anim))).toMatchObject({ kind: 'trajectory-animation' });
    expect(existsSync(`${anim}.json`)).toBe(true);

    const bad = await cli('sample', '--model', `gmm:${mix}`, '--trajectory-png', join(dir, 'x.jpg'));
    expect(bad.code).toBe(2);
    expect(bad.err).toMatch(/--trajectory-png must name a \.png file/);
  });

  it('draws a trained toy run trajectory (sample --run) with run provenance', async () => {
    const db = join(dir, 'studio.db');
    const t = await cli(
      ...['train', '--data', 'toy:ring', '--toy-size', '64', '--preset', 'tiny', '--batch', '8', '--steps', '2'],
      ...['--backend', 'cpu', '--db', db, '--out', join(dir, 'runs')],
    );
    expect(t.code).toBe(0);
    const id = /^run (r_\w+) /m.exec(t.out)![1];
    const strip = join(dir, 'run-strip.png');
    const gif = join(dir, 'run-anim.gif');
    const s = await cli(
      ...['sample', '--run', id, '--steps', '5', '--n', '64', '--out', join(dir, 'run.npy')],
      ...['--trajectory-png', strip, '--animation', gif, '--db', db],
    );
    expect(s.err).toBe('');
    expect(s.code).toBe(0);
    const text = readPngText(readFileSync(strip));
    expect(text).toMatchObject({ run: id, steps: '5', sampler: 'euler' });
    expect(text['checkpoint-sha256']).toMatch(/^[0-9a-f]{64}$/);
    expect(await decodePng(readFileSync(strip))).toMatchObject({ channels: 3 });
    expect((await sharp(readFileSync(gif), { animated: true }).metadata()).pages).toBe(6);
    expect(JSON.parse(readFileSync(`${gif}.json`, 'utf8'))).toMatchObject({ kind: 'trajectory-animation', steps: 5 });
  });
});
