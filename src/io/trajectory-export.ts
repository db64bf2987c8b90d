/**
 * A sampling trajectory as pictures: a strip PNG (columns = chosen steps; a band of x_t above a band of predicted x0,
 * each a row per sample for images or one scatter for 2-D points) and an animation (x_t | predicted x0 side by side,
 * one frame per step) as APNG or GIF. Labels are an SVG overlay composited by sharp, as in comparison-grid.ts.
 */
import sharp, { type OverlayOptions } from 'sharp';
import { assembleApng } from './apng.ts';
import { imagesToGrid, type RawImage } from './image-grid.ts';
import { encodePng } from './png.ts';
import { addPngText } from './png-text.ts';
import { scatterBounds, scatterImage, type ScatterBounds } from './scatter.ts';

export interface TrajectoryData {
  /** [H, W, C] images in [-1, 1] or [2] points. */
  shape: readonly number[];
  /** Samples held per step in `x` and `x0`. */
  n: number;
  /** steps + 1 noise levels, the last one 0 (or the grid's final level). */
  sigmas: readonly number[];
  /** (steps + 1) x n x dim: x at every noise level in the model's own space (VP: x_t); the last entry = the samples. */
  x: Float32Array;
  /** steps x n x dim: the predicted x0 at every step. */
  x0: Float32Array;
}

const GAP = 6;
const LEFT = 64;
const TOP = 58;
const BAND_TITLE = 20;
const SCATTER = 120;
/** Animation frames at most (evenly spaced over the steps). */
export const MAX_FRAMES = 120;

const escapeXml = (s: string) =>
  s.replace(/[<>&"']/g, (c) => ({ '<': '&lt;', '>': '&gt;', '&': '&amp;', '"': '&quot;', "'": '&apos;' })[c]!);

const svgText = (x: number, y: number, s: string, size: number, anchor = 'start', weight = 'normal') =>
  `<text x="${x}" y="${y}" font-family="sans-serif" font-size="${size}" font-weight="${weight}" ` +
  `text-anchor="${anchor}" fill="#222">${escapeXml(s)}</text>`;

export const formatSigma = (s: number) =>
  s === 0
    ? '0'
    : s >= 100
      ? s.toFixed(0)
      : s >= 0.1
        ? s.toPrecision(3)
        : s >= 0.001
          ? s.toPrecision(2)
          : s.toExponential(1);

function toRgb(img: RawImage): Buffer {
  if (img.channels === 3) return Buffer.from(img.data);
  const out = Buffer.alloc(img.width * img.height * 3);
  for (let i = 0; i < img.width * img.height; i++) out.fill(img.data[i], 3 * i, 3 * i + 3);
  return out;
}

/** Composites on white and drops the alpha an SVG overlay brings, so strips and frames are plain RGB. */
async function flatRgb(width: number, height: number, composites: OverlayOptions[]): Promise<Buffer> {
  const { data, info } = await sharp({ create: { width, height, channels: 3, background: '#fff' } })
    .composite(composites)
    .raw()
    .toBuffer({ resolveWithObject: true });
  if (info.channels === 3) return data;
  return sharp(data, { raw: { width, height, channels: info.channels } })
    .removeAlpha()
    .raw()
    .toBuffer();
}

function kindOf(shape: readonly number[]): 'image' | 'points' {
  if (shape.length === 3) return 'image';
  if (shape.length === 1 && shape[0] === 2) return 'points';
  throw new RangeError(`a trajectory strip draws images or 2-D points; these samples have shape [${shape.join(', ')}]`);
}

function check(t: TrajectoryData): { steps: number; dim: number } {
  const dim = t.shape.reduce((a, b) => a * b, 1);
  const steps = t.sigmas.length - 1;
  if (steps < 1) throw new RangeError('a trajectory needs at least one step');
  if (t.x.length !== (steps + 1) * t.n * dim || t.x0.length !== steps * t.n * dim) {
    throw new RangeError(`trajectory arrays do not match ${steps} steps x ${t.n} samples x ${dim} values`);
  }
  return { steps, dim };
}

/**
 * Step indices 0..steps to show: every `every`-th (and always the last), or with `every` unset at most `max`
 * evenly spaced ones including the first and last.
 */
export function chooseSteps(steps: number, max = 16, every?: number): number[] {
  const out = new Set<number>();
  if (every !== undefined) {
    for (let s = 0; s <= steps; s += every) out.add(s);
  } else {
    const count = Math.min(steps + 1, Math.max(2, max));
    for (let j = 0; j < count; j++) out.add(Math.round((j * steps) / (count - 1)));
  }
  out.add(steps);
  return [...out].sort((a, b) => a - b);
}

/** x_t (band 0) or predicted x0 (band 1) of all n samples at step s; the x0 "prediction" at the end is the sample. */
function stepValues(t: TrajectoryData, band: 0 | 1, s: number, steps: number, dim: number): Float32Array {
  const size = t.n * dim;
  if (band === 1 && s < steps) return t.x0.subarray(s * size, (s + 1) * size);
  return t.x.subarray(s * size, (s + 1) * size);
}

export interface StripOptions {
  /** Image trajectories: samples (rows) shown, default 4. */
  samples?: number;
  /** Show every m-th step; default: at most `maxColumns` evenly spaced. */
  every?: number;
  maxColumns?: number;
  title?: string;
}

export interface StripLayout {
  width: number;
  height: number;
  columns: number[];
  rows: number;
  tileWidth: number;
  tileHeight: number;
  /** Top-left pixel of a tile. */
  tile: (band: 0 | 1, row: number, col: number) => { left: number; top: number };
}

/** Scatter bounds per band and column: x0 shares the samples' view; x_t zooms out where it is much wider. */
function scatterViews(t: TrajectoryData, columns: number[], steps: number): ScatterBounds[][] {
  const final = scatterBounds([stepValues(t, 0, steps, steps, 2)]);
  const half = (b: ScatterBounds) => (b.xMax - b.xMin) / 2;
  const xt = columns.map((s) => {
    const b = scatterBounds([stepValues(t, 0, s, steps, 2)]);
    return half(b) > 1.5 * half(final) ? b : final;
  });
  return [xt, columns.map(() => final)];
}

export function stripLayout(t: TrajectoryData, opts: StripOptions = {}): StripLayout {
  const { steps } = check(t);
  const kind = kindOf(t.shape);
  const columns = chooseSteps(steps, opts.maxColumns ?? 16, opts.every);
  const rows = kind === 'image' ? Math.min(opts.samples ?? 4, t.n) : 1;
  const scale = kind === 'image' ? Math.max(1, Math.round(48 / t.shape[0])) : 1;
  const tileWidth = kind === 'image' ? t.shape[1] * scale : SCATTER;
  const tileHeight = kind === 'image' ? t.shape[0] * scale : SCATTER;
  const cw = Math.max(tileWidth, 56);
  const rowGap = kind === 'image' ? 2 : 0;
  const bandHeight = BAND_TITLE + rows * (tileHeight + rowGap);
  const width = LEFT + columns.length * (cw + GAP) + GAP;
  const height = TOP + 2 * bandHeight + GAP;
  const tile = (band: 0 | 1, row: number, col: number) => ({
    left: LEFT + col * (cw + GAP) + Math.floor((cw - tileWidth) / 2),
    top: TOP + band * bandHeight + BAND_TITLE + row * (tileHeight + rowGap),
  });
  return { width, height, columns, rows, tileWidth, tileHeight, tile };
}

/** The strip as an RGB PNG (no provenance; see trajectory-provenance.ts). */
export async function trajectoryStripPng(t: TrajectoryData, opts: StripOptions = {}): Promise<Buffer> {
  const { steps, dim } = check(t);
  const kind = kindOf(t.shape);
  const L = stripLayout(t, opts);
  const composites: OverlayOptions[] = [];
  const text: string[] = [svgText(GAP, 16, opts.title ?? `sampling trajectory, ${steps} steps`, 13, 'start', 'bold')];
  const views = kind === 'points' ? scatterViews(t, L.columns, steps) : undefined;
  const colCentre = (c: number) => L.tile(0, 0, c).left + L.tileWidth / 2;
  L.columns.forEach((s, c) => {
    text.push(svgText(colCentre(c), TOP - 20, `σ ${formatSigma(t.sigmas[s])}`, 11, 'middle'));
    text.push(svgText(colCentre(c), TOP - 7, s === steps ? 'final' : `step ${s}`, 9, 'middle'));
  });
  for (const band of [0, 1] as const) {
    const top = L.tile(band, 0, 0).top;
    text.push(svgText(GAP, top - 6, band === 0 ? 'x_t (noisy)' : 'predicted x0', 11, 'start', 'bold'));
    for (let r = 0; r < L.rows; r++) {
      if (kind === 'image') text.push(svgText(GAP, L.tile(band, r, 0).top + L.tileHeight / 2 + 4, `#${r}`, 10));
      L.columns.forEach((s, c) => {
        const values = stepValues(t, band, s, steps, dim);
        let img: RawImage;
        if (kind === 'image') {
          const [h, w, ch] = t.shape;
          img = imagesToGrid(values.subarray(r * dim, (r + 1) * dim), 1, h, w, ch, {
            padding: 0,
            scale: L.tileWidth / w,
          });
        } else {
          img = scatterImage(values, t.n, views![band][c], SCATTER);
        }
        // A light frame: white scatter panels would otherwise run into each other.
        if (kind === 'points') {
          const { left, top } = L.tile(band, r, c);
          text.push(
            `<rect x="${left - 0.5}" y="${top - 0.5}" width="${img.width + 1}" height="${img.height + 1}" ` +
              `fill="none" stroke="#bbb" stroke-width="1"/>`,
          );
        }
        composites.push({
          input: toRgb(img),
          raw: { width: img.width, height: img.height, channels: 3 },
          ...L.tile(band, r, c),
        });
      });
    }
  }
  const svg = `<svg xmlns="http://www.w3.org/2000/svg" width="${L.width}" height="${L.height}">${text.join('')}</svg>`;
  composites.push({ input: Buffer.from(svg), left: 0, top: 0 });
  const rgb = await flatRgb(L.width, L.height, composites);
  return sharp(rgb, { raw: { width: L.width, height: L.height, channels: 3 } })
    .png()
    .toBuffer();
}

export interface AnimationOptions {
  /** Image trajectories: samples per panel, default 16. */
  samples?: number;
  /** Delay between frames in ms (default 120); the final frame is held at least 1 s. */
  delayMs?: number;
  /** At most this many frames, evenly spaced over the steps (default 120). */
  maxFrames?: number;
  format: 'apng' | 'gif';
  /** tEXt chunks for the APNG (kept in its first frame's header); ignored for GIF. */
  text?: Record<string, string>;
}

interface Frame {
  width: number;
  height: number;
  rgb: Buffer;
}

async function renderFrame(t: TrajectoryData, s: number, steps: number, dim: number, k: number): Promise<Frame> {
  const kind = kindOf(t.shape);
  const panels: RawImage[] = ([0, 1] as const).map((band) => {
    const values = stepValues(t, band, s, steps, dim);
    if (kind === 'points') return scatterImage(values, t.n, scatterBounds([stepValues(t, 0, steps, steps, 2)]), 200);
    const [h, w, c] = t.shape;
    return imagesToGrid(values.subarray(0, k * dim), k, h, w, c, {
      scale: Math.max(1, Math.round(32 / h)),
      background: 255,
    });
  });
  const pw = panels[0].width;
  const ph = panels[0].height;
  const header = 24;
  const width = 3 * GAP + 2 * pw + 2 * GAP;
  const height = header + ph + GAP;
  const label = `${s === steps ? 'final' : `step ${s}/${steps}`} · σ ${formatSigma(t.sigmas[s])}`;
  const text = [
    svgText(GAP, 16, `x_t  ${label}`, 11, 'start', 'bold'),
    svgText(3 * GAP + pw + GAP, 16, 'predicted x0', 11, 'start', 'bold'),
  ];
  const svg = `<svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="${height}">${text.join('')}</svg>`;
  const rgb = await flatRgb(width, height, [
    ...panels.map((p, i) => ({
      input: toRgb(p),
      raw: { width: p.width, height: p.height, channels: 3 as const },
      left: GAP + i * (pw + 3 * GAP),
      top: header,
    })),
    { input: Buffer.from(svg), left: 0, top: 0 },
  ]);
  return { width, height, rgb };
}

/** The trajectory as an animation: APNG (lossless) or GIF (256 colours, written by sharp). */
export async function trajectoryAnimation(
  t: TrajectoryData,
  opts: AnimationOptions,
): Promise<{ bytes: Buffer; frames: number[] }> {
  const { steps, dim } = check(t);
  const k = Math.min(opts.samples ?? 16, t.n);
  const frameSteps = chooseSteps(steps, opts.maxFrames ?? MAX_FRAMES);
  const delay = opts.delayMs ?? 120;
  const delays = frameSteps.map((s) => (s === steps ? Math.max(delay, 1000) : delay));
  const frames: Frame[] = [];
  for (const s of frameSteps) frames.push(await renderFrame(t, s, steps, dim, k));
  const { width, height } = frames[0];
  if (opts.format === 'gif') {
    const bytes = await sharp(Buffer.concat(frames.map((f) => f.rgb)), {
      raw: { width, height: height * frames.length, channels: 3, pageHeight: height },
    })
      .gif({ delay: delays, loop: 0 })
      .toBuffer();
    return { bytes, frames: frameSteps };
  }
  const pngs: Buffer[] = [];
  for (const f of frames) pngs.push(await encodePng({ width, height, channels: 3, data: f.rgb }));
  if (opts.text) pngs[0] = addPngText(pngs[0], opts.text);
  return { bytes: assembleApng(pngs, delays), frames: frameSteps };
}
