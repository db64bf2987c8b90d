/**
 * A 2-D point cloud as a small grey scatter image (pure, no I/O): darker = denser, light axes through the origin
 * when it is in view. Every cell of a comparison is drawn over the same bounds, so the panels compare by eye.
 */
import type { RawImage } from './image-grid.ts';

export interface ScatterBounds {
  xMin: number;
  xMax: number;
  yMin: number;
  yMax: number;
}

/**
 * Square bounds that hold all but the outer `trim` fraction of every set on each axis, padded by 10%: one stray
 * sample of a diverging sampler does not shrink the rest to a dot.
 */
export function scatterBounds(sets: readonly (Float32Array | Float64Array)[], trim = 0.005): ScatterBounds {
  const xs: number[] = [];
  const ys: number[] = [];
  for (const s of sets)
    for (let j = 0; j + 1 < s.length; j += 2) {
      if (Number.isFinite(s[j]) && Number.isFinite(s[j + 1])) {
        xs.push(s[j]);
        ys.push(s[j + 1]);
      }
    }
  if (xs.length === 0) return { xMin: -1, xMax: 1, yMin: -1, yMax: 1 };
  const q = (v: number[], p: number) => v[Math.min(v.length - 1, Math.max(0, Math.floor(p * (v.length - 1))))];
  xs.sort((a, b) => a - b);
  ys.sort((a, b) => a - b);
  const cx = (q(xs, trim) + q(xs, 1 - trim)) / 2;
  const cy = (q(ys, trim) + q(ys, 1 - trim)) / 2;
  const half = Math.max(q(xs, 1 - trim) - q(xs, trim), q(ys, 1 - trim) - q(ys, trim), 1e-3) * 0.55;
  return { xMin: cx - half, xMax: cx + half, yMin: cy - half, yMax: cy + half };
}

/** points: n x 2 values; a size x size one-channel image. */
export function scatterImage(
  points: Float32Array | Float64Array,
  n: number,
  bounds: ScatterBounds,
  size = 160,
): RawImage {
  const hits = new Uint16Array(size * size);
  const { xMin, xMax, yMin, yMax } = bounds;
  for (let j = 0; j < n; j++) {
    const px = Math.floor(((points[2 * j] - xMin) / (xMax - xMin)) * size);
    const py = size - 1 - Math.floor(((points[2 * j + 1] - yMin) / (yMax - yMin)) * size);
    // 2 x 2 dots: single pixels vanish in a 160-pixel panel.
    for (let dy = 0; dy < 2; dy++)
      for (let dx = 0; dx < 2; dx++) {
        const x = px + dx;
        const y = py + dy;
        if (x >= 0 && x < size && y >= 0 && y < size) hits[y * size + x] = Math.min(65535, hits[y * size + x] + 1);
      }
  }
  const data = new Uint8Array(size * size).fill(255);
  const ox = Math.floor((-xMin / (xMax - xMin)) * size);
  const oy = size - 1 - Math.floor((-yMin / (yMax - yMin)) * size);
  for (let i = 0; i < size; i++) {
    if (oy >= 0 && oy < size) data[oy * size + i] = 225;
    if (ox >= 0 && ox < size) data[i * size + ox] = 225;
  }
  hits.forEach((h, i) => {
    if (h > 0) data[i] = Math.max(0, 150 - 40 * h);
  });
  return { width: size, height: size, channels: 1, data };
}
