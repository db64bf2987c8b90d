import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import sharp, { type Sharp } from 'sharp';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { openDataset, type Dataset } from '../../src/data/dataset.ts';
import { DatasetFormatError, DatasetNotFoundError } from '../../src/data/errors.ts';

const root = mkdtempSync(join(tmpdir(), 'ds-folder-'));
afterAll(() => rmSync(root, { recursive: true, force: true }));

type Rgb = [number, number, number];

/** A w x h RGB image whose colour is fn(x, y). */
function raw(w: number, h: number, fn: (x: number, y: number) => Rgb): Sharp {
  const data = Buffer.alloc(w * h * 3);
  for (let y = 0; y < h; y++) for (let x = 0; x < w; x++) data.set(fn(x, y), (y * w + x) * 3);
  return sharp(data, { raw: { width: w, height: h, channels: 3 } });
}

async function put(rel: string, bytes: Buffer | Promise<Buffer> | string): Promise<string> {
  const path = join(root, rel);
  mkdirSync(dirname(path), { recursive: true });
  writeFileSync(path, await bytes);
  return path;
}

const RED: Rgb = [255, 0, 0];
const GREEN: Rgb = [0, 255, 0];
const BLUE: Rgb = [0, 0, 255];
const unit = (b: number) => Math.fround(b / 127.5 - 1);

/** Pixel (x, y) of example i as bytes again. */
function pixel(d: Dataset, i: number, x: number, y: number): number[] {
  const [h, w, c] = d.shape;
  const out = new Float32Array(h * w * c);
  d.read(i, out, 0);
  return Array.from(out.subarray((y * w + x) * c, (y * w + x + 1) * c), (v) => Math.round((v + 1) * 127.5));
}

let labeled: Dataset;
let corruptPath: string;
let textPath: string;
let topPath: string;

beforeAll(async () => {
  // Class "cat": a solid PNG and a JPEG; class "dog": a WebP, a nested PNG, and two files that are not images.
  await put(
    'labeled/cat/a.png',
    raw(8, 8, () => RED)
      .png()
      .toBuffer(),
  );
  await put(
    'labeled/cat/b.jpg',
    raw(8, 8, () => BLUE)
      .jpeg({ quality: 95 })
      .toBuffer(),
  );
  await put(
    'labeled/dog/c.webp',
    raw(8, 8, () => GREEN)
      .webp({ lossless: true })
      .toBuffer(),
  );
  // Wide 24x8: red | green | blue thirds -> the centre crop at 8x8 is all green, no resampling (scale 1).
  await put(
    'labeled/dog/deep/nested/wide.PNG',
    raw(24, 8, (x) => (x < 8 ? RED : x < 16 ? GREEN : BLUE))
      .png()
      .toBuffer(),
  );
  const png = await raw(8, 8, () => RED)
    .png()
    .toBuffer();
  corruptPath = await put('labeled/dog/corrupt.png', png.subarray(0, png.length - 30));
  textPath = await put('labeled/cat/notes.png', 'this is not a png\n');
  topPath = await put('labeled/top.png', png);
  await put('labeled/readme.txt', 'ignored: not an image extension');
  await put('labeled/.hidden/x.png', png);
  labeled = await openDataset({ kind: 'folder', dir: join(root, 'labeled'), imageSize: 8 });
});

describe('image folders', () => {
  it('label by first-level subfolder (sorted) and order files by relative path', () => {
    expect(labeled.classNames).toEqual(['cat', 'dog']);
    expect(labeled.numClasses).toBe(2);
    expect(labeled.size).toBe(4);
    expect(labeled.shape).toEqual([8, 8, 3]);
    const out = new Float32Array(8 * 8 * 3);
    // cat/a.png, cat/b.jpg, dog/c.webp, dog/deep/nested/wide.PNG
    expect([0, 1, 2, 3].map((i) => labeled.read(i, out, 0))).toEqual([0, 0, 1, 1]);
    expect(pixel(labeled, 0, 3, 3)).toEqual(RED);
    const jpeg = pixel(labeled, 1, 4, 4);
    jpeg.forEach((v, c) => expect(Math.abs(v - BLUE[c])).toBeLessThanOrEqual(4)); // lossy
    expect(pixel(labeled, 2, 0, 7)).toEqual(GREEN);
  });

  it('centre-crop non-square images', async () => {
    for (const [x, y] of [
      [0, 0],
      [7, 0],
      [0, 7],
      [7, 7],
    ]) {
      expect(pixel(labeled, 3, x, y)).toEqual(GREEN);
    }
    // Tall 16x48 (top red, middle green, bottom blue) downscaled 2x into 8x8: rows from the middle third only.
    const dir = join(root, 'tall');
    await put(
      'tall/t.png',
      raw(16, 48, (_, y) => (y < 16 ? RED : y < 32 ? GREEN : BLUE))
        .png()
        .toBuffer(),
    );
    const d = await openDataset({ kind: 'folder', dir, imageSize: 8 });
    expect(d.numClasses).toBe(0);
    // The lanczos3 kernel reaches past the crop edge, so the inner rows are green up to a little ringing.
    for (const y of [2, 3, 4, 5]) pixel(d, 0, 4, y).forEach((v, c) => expect(Math.abs(v - GREEN[c])).toBeLessThan(3));
    for (const y of [0, 7]) {
      const [r, g, b] = pixel(d, 0, 4, y);
      expect(g).toBeGreaterThan(220);
      expect(Math.max(r, b)).toBeLessThan(30);
    }
  });

  it('skip and list unreadable files and stray top-level images, never throwing', () => {
    const skipped = labeled.skipped ?? [];
    expect(skipped.map((s) => s.path).sort()).toEqual([corruptPath, textPath, topPath].sort());
    expect(skipped.find((s) => s.path === topPath)?.reason).toBe('not inside a class folder');
    for (const s of skipped) expect(s.reason.length).toBeGreaterThan(0);
  });

  it('convert to one channel and flatten transparency onto white', async () => {
    const rgba = Buffer.alloc(4 * 4 * 4); // fully transparent
    await put(
      'alpha/clear.png',
      sharp(rgba, { raw: { width: 4, height: 4, channels: 4 } })
        .png()
        .toBuffer(),
    );
    await put(
      'alpha/red.png',
      raw(4, 4, () => RED)
        .png()
        .toBuffer(),
    );
    const d = await openDataset({ kind: 'folder', dir: join(root, 'alpha'), imageSize: 4, channels: 1 });
    expect(d.shape).toEqual([4, 4, 1]);
    expect(d.classNames).toBeUndefined();
    const out = new Float32Array(16);
    expect(d.read(0, out, 0)).toBe(-1);
    expect(Array.from(new Set(out))).toEqual([1]); // white
    d.read(1, out, 0);
    // libvips takes luminance in linear light: pure red is Y = 0.2126, which sRGB-encodes to about 127.
    expect(Math.abs(out[5] - unit(127))).toBeLessThan(0.02);
  });

  it('fail clearly on an empty folder, a folder where nothing decodes, and a missing folder', async () => {
    mkdirSync(join(root, 'empty/sub'), { recursive: true });
    await put('empty/sub/notes.txt', 'no images');
    await expect(openDataset({ kind: 'folder', dir: join(root, 'empty') })).rejects.toThrow(
      /folder: no \.png\/\.jpg\/\.jpeg\/\.webp images in .*empty/,
    );
    await put('junk/a.png', 'junk');
    await put('junk/b.webp', Buffer.from([0x52, 0x49, 0x46, 0x46, 0, 0]));
    const err = await openDataset({ kind: 'folder', dir: join(root, 'junk') }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(DatasetFormatError);
    expect((err as Error).message).toMatch(/none of the 2 images in .*junk could be read \(first: .*a\.png: /);
    await expect(openDataset({ kind: 'folder', dir: join(root, 'nope') })).rejects.toThrow(DatasetNotFoundError);
    await expect(openDataset({ kind: 'folder' })).rejects.toThrow(/folder: no dir given/);
  });
});
