/**
 * Draws a 2-D point cloud on a canvas at device resolution: a light grid, the axes, optional reference circles
 * (mixture components at 2 standard deviations) and the points. Colors come from CSS variables on the canvas, so
 * the theme decides them.
 */
import type { GaussianMixture } from '../../../api/contract.ts';

export interface ScatterInput {
  points: Float32Array | null;
  /** Values per point; the first two are plotted. */
  dim: number;
  /** Multiplies every coordinate (e.g. 1 / sqrt(1 + sigma^2) for the VP view of x_t). */
  scale: number;
  /** Half-width of the square shown, in data units. */
  extent: number;
  /** Components drawn as dashed circles; `referenceSigma` widens them to the noised marginal. */
  reference: GaussianMixture | null;
  referenceSigma: number;
  tone: 'x' | 'x0';
}

export function drawScatter(canvas: HTMLCanvasElement, input: ScatterInput): number {
  const dpr = window.devicePixelRatio || 1;
  const size = Math.max(1, Math.round(canvas.clientWidth * dpr));
  if (canvas.width !== size || canvas.height !== size) {
    canvas.width = size;
    canvas.height = size;
  }
  const ctx = canvas.getContext('2d');
  if (!ctx) return 0;
  const css = getComputedStyle(canvas);
  const color = (name: string) => css.getPropertyValue(name).trim() || '#888';
  const { points, dim, scale, extent, reference, referenceSigma, tone } = input;
  const px = size / (2 * extent);
  const toX = (v: number) => (v + extent) * px;
  const toY = (v: number) => (extent - v) * px;

  ctx.fillStyle = color('--plot-bg');
  ctx.fillRect(0, 0, size, size);

  ctx.lineWidth = Math.max(1, dpr);
  ctx.strokeStyle = color('--plot-grid');
  ctx.beginPath();
  for (let v = Math.ceil(-extent); v <= extent; v++) {
    ctx.moveTo(toX(v), 0);
    ctx.lineTo(toX(v), size);
    ctx.moveTo(0, toY(v));
    ctx.lineTo(size, toY(v));
  }
  ctx.stroke();
  ctx.strokeStyle = color('--plot-axis');
  ctx.beginPath();
  ctx.moveTo(toX(0), 0);
  ctx.lineTo(toX(0), size);
  ctx.moveTo(0, toY(0));
  ctx.lineTo(size, toY(0));
  ctx.stroke();

  if (reference) {
    // The noised marginal of component k, in the same (scaled) coordinates as the points.
    ctx.strokeStyle = color('--plot-ref');
    ctx.setLineDash([4 * dpr, 3 * dpr]);
    // Wide, overlapping circles at high noise would crowd the points: fade them as sigma grows.
    ctx.globalAlpha = 1 / (1 + referenceSigma);
    reference.means.forEach((mu, k) => {
      const s = Math.sqrt(reference.stds[k] ** 2 + referenceSigma ** 2) * scale;
      ctx.beginPath();
      ctx.arc(toX(mu[0] * scale), toY(mu[1] * scale), Math.max(2 * s * px, 2 * dpr), 0, 2 * Math.PI);
      ctx.stroke();
    });
    ctx.setLineDash([]);
    ctx.globalAlpha = 1;
  }

  if (!points) return 0;
  const n = Math.floor(points.length / dim);
  const r = Math.max(1.5, 1.6 * dpr);
  ctx.fillStyle = color(tone === 'x' ? '--plot-point-x' : '--plot-point-x0');
  ctx.globalAlpha = n > 2000 ? 0.55 : 0.8;
  let drawn = 0;
  for (let j = 0; j < n; j++) {
    const x = toX(points[j * dim] * scale);
    const y = toY(points[j * dim + 1] * scale);
    if (!(x >= -r && x <= size + r && y >= -r && y <= size + r)) continue;
    ctx.fillRect(x - r, y - r, 2 * r, 2 * r);
    drawn++;
  }
  ctx.globalAlpha = 1;
  return drawn;
}
