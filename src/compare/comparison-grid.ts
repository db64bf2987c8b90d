/**
 * A comparison as one labeled PNG: rows = samplers (x eta or guidance), columns = step counts. A cell shows the first
 * k samples as a small image grid (image runs) or a scatter of all samples (2-D models, every cell over the same
 * bounds), with NFE, time and error under it. Text is an SVG overlay that sharp composites (librsvg draws it with
 * the system fonts), so no font code lives here.
 */
import sharp, { type OverlayOptions } from 'sharp';
import { imagesToGrid, type RawImage } from '../io/image-grid.ts';
import { scatterBounds, scatterImage, type ScatterBounds } from '../io/scatter.ts';
import type { ComparisonResult } from './comparison.ts';

const LEFT = 150;
const TOP = 66;
const GAP = 10;
const CAPTION = 18;

const escapeXml = (s: string) =>
  s.replace(/[<>&"']/g, (c) => ({ '<': '&lt;', '>': '&gt;', '&': '&amp;', '"': '&quot;', "'": '&apos;' })[c]!);

/** Cuts text to about `px` pixels at `size` (sans-serif bold averages ~0.62 em a character), ending in '…'. */
function fitText(text: string, px: number, size: number): string {
  const max = Math.max(4, Math.floor(px / (0.62 * size)));
  return text.length <= max ? text : `${text.slice(0, max - 1)}…`;
}

function toRgb(img: RawImage): Buffer {
  if (img.channels === 3) return Buffer.from(img.data);
  const out = Buffer.alloc(img.width * img.height * 3);
  for (let i = 0; i < img.width * img.height; i++) out.fill(img.data[i], 3 * i, 3 * i + 3);
  return out;
}

function formatError(v: number | null, kind: string | null): string {
  if (v === null) return '';
  return ` · ${kind === 'swd' ? 'swd' : 'err'} ${v < 0.01 ? v.toExponential(1) : v.toFixed(3)}`;
}

export interface ComparisonGridOptions {
  /** Images: samples shown per cell. */
  k?: number;
  title?: string;
  /** 2-D models: the scatter bounds (default: fitted to these cells); tiles of one grid share them. */
  bounds?: ScatterBounds;
}

/** Pixel layout of a grid: margins for the labels, then cells of one size with gaps. */
export interface GridGeometry {
  left: number;
  top: number;
  gap: number;
  cellWidth: number;
  cellHeight: number;
}

export function gridPixels(g: GridGeometry, rows: number, cols: number): { width: number; height: number } {
  return {
    width: g.left + cols * (g.cellWidth + g.gap) + g.gap,
    height: g.top + rows * (g.cellHeight + g.gap) + g.gap,
  };
}

/** The layout comparisonGridPng uses for this result (draws one cell's tile to learn its size). */
export function comparisonGridGeometry(result: ComparisonResult, opts: ComparisonGridOptions = {}): GridGeometry {
  const one = { ...result, cells: result.cells.slice(0, 1), samples: result.samples.slice(0, 1) };
  const [tile] = tiles(one, opts.k ?? 16, opts.bounds ?? { xMin: -1, xMax: 1, yMin: -1, yMax: 1 });
  return { left: LEFT, top: TOP, gap: GAP, cellWidth: Math.max(tile.width, 170), cellHeight: tile.height + CAPTION };
}

/** The cells' tiles, all the same size. Throws for shapes that are neither [H, W, C] images nor 2-D points. */
function tiles(result: ComparisonResult, k: number, bounds?: ScatterBounds): RawImage[] {
  const { shape, n } = result;
  if (shape.length === 3) {
    const [h, w, c] = shape;
    const count = Math.min(k, n);
    const scale = Math.max(1, Math.round(32 / h));
    return result.samples.map((s) =>
      imagesToGrid(s.subarray(0, count * h * w * c), count, h, w, c, { scale, background: 255 }),
    );
  }
  if (shape.length === 1 && shape[0] === 2) {
    const b = bounds ?? scatterBounds(result.samples);
    return result.samples.map((s) => scatterImage(s, n, b));
  }
  throw new RangeError(`a comparison grid draws images or 2-D points; these samples have shape [${shape.join(', ')}]`);
}

export async function comparisonGridPng(result: ComparisonResult, opts: ComparisonGridOptions = {}): Promise<Buffer> {
  const cellTiles = tiles(result, opts.k ?? 16, opts.bounds);
  const tw = cellTiles[0].width;
  const th = cellTiles[0].height;
  const cols = result.steps.length;
  const rows = result.rows.length;
  const cw = Math.max(tw, 170);
  const ch = th + CAPTION;
  const { width, height } = gridPixels({ left: LEFT, top: TOP, gap: GAP, cellWidth: cw, cellHeight: ch }, rows, cols);
  const x0 = (c: number) => LEFT + GAP + c * (cw + GAP);
  const y0 = (r: number) => TOP + r * (ch + GAP);

  const text: string[] = [];
  const t = (x: number, y: number, s: string, size: number, anchor = 'start', weight = 'normal') =>
    text.push(
      `<text x="${x}" y="${y}" font-family="sans-serif" font-size="${size}" font-weight="${weight}" ` +
        `text-anchor="${anchor}" fill="#222">${escapeXml(s)}</text>`,
    );
  t(GAP, 20, fitText(opts.title ?? 'sampler comparison', width - 2 * GAP, 14), 14, 'start', 'bold');
  t(LEFT + (width - LEFT) / 2, 40, 'steps', 12, 'middle', 'bold');
  t(GAP, TOP - 8, 'sampler', 12, 'start', 'bold');
  result.steps.forEach((s, c) => t(x0(c) + cw / 2, TOP - 8, `${s} steps`, 12, 'middle'));
  result.rows.forEach((label, r) => t(GAP, y0(r) + th / 2, label, 12));

  const composites: OverlayOptions[] = [];
  result.cells.forEach((cell, i) => {
    const r = result.rows.indexOf(cell.row);
    const c = result.steps.indexOf(cell.steps);
    const tile = cellTiles[i];
    composites.push({
      input: toRgb(tile),
      raw: { width: tile.width, height: tile.height, channels: 3 },
      left: x0(c) + Math.floor((cw - tw) / 2),
      top: y0(r),
    });
    t(
      x0(c) + cw / 2,
      y0(r) + th + 13,
      `NFE ${cell.nfe} · ${cell.ms.toFixed(0)} ms${formatError(cell.error, cell.errorKind)}`,
      10,
      'middle',
    );
  });
  const svg = `<svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="${height}">${text.join('')}</svg>`;
  composites.push({ input: Buffer.from(svg), left: 0, top: 0 });
  return sharp({ create: { width, height, channels: 3, background: { r: 255, g: 255, b: 255 } } })
    .composite(composites)
    .png()
    .toBuffer();
}
