/**
 * Draws a training preview: images (HWC, values in [-1, 1]) as a square-ish grid at their native resolution, scaled
 * up without smoothing so that pixels stay crisp. 2-D toy previews are scatters (drawScatter).
 */
export interface ImageBatch {
  samples: Float32Array;
  count: number;
  /** [H, W, C] with C = 1 or 3. */
  shape: number[];
}

/** Columns and rows of the grid for `count` images. */
export function gridSize(count: number): { cols: number; rows: number } {
  const cols = Math.max(1, Math.ceil(Math.sqrt(count)));
  return { cols, rows: Math.max(1, Math.ceil(count / cols)) };
}

/** The grid as RGBA pixels, one pixel gap between cells (filled with `gap`). */
export function imageGridPixels(batch: ImageBatch, gap: [number, number, number]): ImageData {
  const [h, w, c] = batch.shape;
  const { cols, rows } = gridSize(batch.count);
  const width = cols * (w + 1) + 1;
  const height = rows * (h + 1) + 1;
  const out = new ImageData(width, height);
  const px = out.data;
  for (let i = 0; i < px.length; i += 4) {
    px[i] = gap[0];
    px[i + 1] = gap[1];
    px[i + 2] = gap[2];
    px[i + 3] = 255;
  }
  const toByte = (v: number) => Math.max(0, Math.min(255, Math.round((v + 1) * 127.5)));
  for (let n = 0; n < batch.count; n++) {
    const ox = (n % cols) * (w + 1) + 1;
    const oy = Math.floor(n / cols) * (h + 1) + 1;
    const base = n * h * w * c;
    for (let y = 0; y < h; y++) {
      for (let x = 0; x < w; x++) {
        const src = base + (y * w + x) * c;
        const dst = ((oy + y) * width + ox + x) * 4;
        const r = toByte(batch.samples[src]);
        px[dst] = r;
        px[dst + 1] = c >= 3 ? toByte(batch.samples[src + 1]) : r;
        px[dst + 2] = c >= 3 ? toByte(batch.samples[src + 2]) : r;
      }
    }
  }
  return out;
}

/** Draws the grid onto `canvas`, fitted to its CSS width at device resolution. */
export function drawImageGrid(canvas: HTMLCanvasElement, batch: ImageBatch): void {
  const dpr = window.devicePixelRatio || 1;
  const css = getComputedStyle(canvas);
  const bg = css.getPropertyValue('--plot-bg').trim() || '#fff';
  const ctx = canvas.getContext('2d');
  if (!ctx) return;
  const probe = document.createElement('canvas').getContext('2d')!;
  probe.fillStyle = css.getPropertyValue('--border').trim() || '#888';
  probe.fillRect(0, 0, 1, 1);
  const [r, g, b] = probe.getImageData(0, 0, 1, 1).data;
  const pixels = imageGridPixels(batch, [r, g, b]);
  const size = Math.max(1, Math.round(canvas.clientWidth * dpr));
  if (canvas.width !== size || canvas.height !== size) {
    canvas.width = size;
    canvas.height = size;
  }
  const source = document.createElement('canvas');
  source.width = pixels.width;
  source.height = pixels.height;
  source.getContext('2d')!.putImageData(pixels, 0, 0);
  ctx.fillStyle = bg;
  ctx.fillRect(0, 0, size, size);
  const scale = Math.min(size / pixels.width, size / pixels.height);
  const dw = pixels.width * scale;
  const dh = pixels.height * scale;
  ctx.imageSmoothingEnabled = false;
  ctx.drawImage(source, (size - dw) / 2, (size - dh) / 2, dw, dh);
}
