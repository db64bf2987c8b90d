/**
 * Tiled export of a comparison grid too large for one image: the rows and columns are split into blocks so that
 * every tile, labels included, stays within maxSide pixels on each side. Each tile is itself a complete labeled grid
 * of its rows x columns (readable on its own), drawn over the same scatter bounds as the whole, so tiles compare.
 */
import { scatterBounds } from '../io/scatter.ts';
import type { ComparisonResult } from './comparison.ts';
import {
  comparisonGridGeometry,
  comparisonGridPng,
  gridPixels,
  type ComparisonGridOptions,
  type GridGeometry,
} from './comparison-grid.ts';

export interface TileBlock {
  /** Row and column index ranges [start, end) of the whole grid. */
  rows: [number, number];
  cols: [number, number];
}

/** Splits rows x cols into blocks no bigger than maxSide pixels; one block when everything fits. */
export function planGridTiles(g: GridGeometry, rows: number, cols: number, maxSide: number): TileBlock[] {
  const perRow = Math.floor((maxSide - g.left - g.gap) / (g.cellWidth + g.gap));
  const perCol = Math.floor((maxSide - g.top - g.gap) / (g.cellHeight + g.gap));
  if (perRow < 1 || perCol < 1) {
    const one = gridPixels(g, 1, 1);
    throw new RangeError(`maxSide ${maxSide} px is smaller than one labeled cell (${one.width} x ${one.height} px)`);
  }
  const blocks: TileBlock[] = [];
  for (let r = 0; r < rows; r += perCol)
    for (let c = 0; c < cols; c += perRow)
      blocks.push({ rows: [r, Math.min(rows, r + perCol)], cols: [c, Math.min(cols, c + perRow)] });
  return blocks;
}

/** The part of a result inside one block (its cells and samples, in the same order). */
export function resultBlock(result: ComparisonResult, block: TileBlock): ComparisonResult {
  const rows = result.rows.slice(...block.rows);
  const steps = result.steps.slice(...block.cols);
  const keep = result.cells.map((c) => rows.includes(c.row) && steps.includes(c.steps));
  return {
    ...result,
    rows,
    steps,
    cells: result.cells.filter((_, i) => keep[i]),
    samples: result.samples.filter((_, i) => keep[i]),
  };
}

export interface GridImage {
  png: Buffer;
  block: TileBlock;
  /** The tile's part of the result (for its provenance). */
  result: ComparisonResult;
  width: number;
  height: number;
}

/** The grid as one PNG, or as tiles (row-major) when it would exceed maxSide on a side. */
export async function comparisonGridImages(
  result: ComparisonResult,
  maxSide: number,
  opts: ComparisonGridOptions = {},
): Promise<{ images: GridImage[]; width: number; height: number }> {
  if (result.cells.length === 0) throw new RangeError('the comparison has no finished cells to draw');
  const bounds =
    opts.bounds ?? (result.shape.length === 1 && result.shape[0] === 2 ? scatterBounds(result.samples) : undefined);
  const options = { ...opts, ...(bounds ? { bounds } : {}) };
  const g = comparisonGridGeometry(result, options);
  const whole = gridPixels(g, result.rows.length, result.steps.length);
  const blocks = planGridTiles(g, result.rows.length, result.steps.length, maxSide);
  const images: GridImage[] = [];
  for (const [k, block] of blocks.entries()) {
    const part = resultBlock(result, block);
    if (part.cells.length === 0) continue; // a block of cells a cancelled run never reached
    const title =
      blocks.length > 1 ? `tile ${k + 1} of ${blocks.length} · ${opts.title ?? 'sampler comparison'}` : opts.title;
    const png = await comparisonGridPng(part, { ...options, ...(title ? { title } : {}) });
    const size = gridPixels(g, part.rows.length, part.steps.length);
    images.push({ png, block, result: part, ...size });
  }
  return { images, ...whole };
}
