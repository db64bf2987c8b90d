/**
 * The loss-per-timestep-bucket heatmap: stored bucket losses (loss_t0..loss_t9 at each progress report) resampled
 * onto evenly spaced step columns, a color range (logarithmic when every value is positive: losses at high and
 * low noise differ by orders of magnitude) and the pixels, one per (column, bucket), t0 at the bottom.
 */

export interface BucketHistory {
  /** Report steps, ascending. */
  steps: number[];
  /** buckets[k][i]: bucket k's loss at steps[i]; NaN when that report had no sample in the bucket. */
  buckets: number[][];
}

export interface HeatmapGrid {
  rows: number;
  cols: number;
  /** Row-major, row 0 = bucket 0; NaN where nothing was reported yet. */
  values: Float64Array;
  firstStep: number;
  lastStep: number;
}

export interface ColorRange {
  min: number;
  max: number;
  log: boolean;
}

/**
 * Columns over [first step, last step]; each holds the latest report at or before its step per bucket (a bucket a
 * report missed keeps its previous value), so irregular report intervals draw as even columns.
 */
export function resampleBuckets(history: BucketHistory, maxCols: number): HeatmapGrid | null {
  const n = history.steps.length;
  const rows = history.buckets.length;
  if (n === 0 || rows === 0) return null;
  const cols = Math.max(1, Math.min(maxCols, n));
  const firstStep = history.steps[0];
  const lastStep = history.steps[n - 1];
  const values = new Float64Array(rows * cols).fill(NaN);
  for (let k = 0; k < rows; k++) {
    const series = history.buckets[k];
    let i = 0;
    let held = NaN;
    for (let c = 0; c < cols; c++) {
      const at = cols === 1 ? lastStep : firstStep + ((lastStep - firstStep) * c) / (cols - 1);
      while (i < n && history.steps[i] <= at) {
        if (Number.isFinite(series[i])) held = series[i];
        i++;
      }
      values[k * cols + c] = held;
    }
  }
  return { rows, cols, values, firstStep, lastStep };
}

export function colorRange(values: ArrayLike<number>): ColorRange | null {
  let min = Infinity;
  let max = -Infinity;
  for (let i = 0; i < values.length; i++) {
    const v = values[i];
    if (!Number.isFinite(v)) continue;
    if (v < min) min = v;
    if (v > max) max = v;
  }
  if (min > max) return null;
  return { min, max, log: min > 0 };
}

/** Position of v in the range, 0..1. */
export function rangePosition(v: number, range: ColorRange): number {
  const f = range.log ? Math.log : (x: number) => x;
  const lo = f(range.min);
  const hi = f(range.max);
  return hi > lo ? Math.min(1, Math.max(0, (f(v) - lo) / (hi - lo))) : 0.5;
}

/** Viridis (matplotlib), 9 stops, linearly interpolated: perceptually even and readable by most color-blind eyes. */
const VIRIDIS: [number, number, number][] = [
  [68, 1, 84],
  [71, 44, 122],
  [59, 81, 139],
  [44, 113, 142],
  [33, 144, 141],
  [39, 173, 129],
  [92, 200, 99],
  [170, 220, 50],
  [253, 231, 37],
];

export function viridis(t: number): [number, number, number] {
  const x = Math.min(1, Math.max(0, t)) * (VIRIDIS.length - 1);
  const i = Math.min(VIRIDIS.length - 2, Math.floor(x));
  const f = x - i;
  const a = VIRIDIS[i];
  const b = VIRIDIS[i + 1];
  return [0, 1, 2].map((j) => Math.round(a[j] + (b[j] - a[j]) * f)) as [number, number, number];
}

/** CSS gradient stops of the color scale, for the legend. */
export function viridisGradient(): string {
  return VIRIDIS.map((c, i) => `rgb(${c.join(' ')}) ${((i / (VIRIDIS.length - 1)) * 100).toFixed(1)}%`).join(', ');
}

/** RGBA pixels (cols x rows), bucket 0 on the bottom row; cells with no value are transparent. */
export function heatmapPixels(grid: HeatmapGrid, range: ColorRange): Uint8ClampedArray<ArrayBuffer> {
  const { rows, cols, values } = grid;
  const px = new Uint8ClampedArray(rows * cols * 4);
  for (let k = 0; k < rows; k++) {
    const y = rows - 1 - k;
    for (let c = 0; c < cols; c++) {
      const v = values[k * cols + c];
      if (!Number.isFinite(v)) continue;
      const [r, g, b] = viridis(rangePosition(v, range));
      const o = (y * cols + c) * 4;
      px[o] = r;
      px[o + 1] = g;
      px[o + 2] = b;
      px[o + 3] = 255;
    }
  }
  return px;
}
