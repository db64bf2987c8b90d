/**
 * Lay out a batch of images as one grid image (pure, no I/O; png.ts encodes it). Like torchvision's make_grid:
 * `padding` pixels of `background` around and between the tiles, row-major tile order.
 *
 * Values: clipped to [-1, 1], then round((v + 1) * 127.5), so -1 -> 0, 0 -> 128, 1 -> 255; NaN -> 0.
 */

export interface GridOptions {
  /** Tiles per row (default ceil(sqrt(n))). */
  cols?: number;
  /** Pixels between and around tiles, not scaled (default 2). */
  padding?: number;
  /** Integer nearest-neighbour upscale of every tile, for tiny images (default 1). */
  scale?: number;
  /** Gray level 0..255 of the padding (default 0, black). */
  background?: number;
}

/** An 8-bit image, rows top to bottom, channels interleaved (HWC). */
export interface RawImage {
  width: number;
  height: number;
  channels: number;
  data: Uint8Array;
}

/** [-1, 1] -> 0..255 with rounding; out-of-range values are clipped and NaN becomes 0. */
export function unitToByte(v: number): number {
  if (!(v > -1)) return 0; // also NaN
  if (v >= 1) return 255;
  return Math.round((v + 1) * 127.5);
}

function positiveInt(name: string, v: number, min: number): number {
  if (!Number.isInteger(v) || v < min)
    throw new RangeError(`image grid: ${name} must be an integer >= ${min}, got ${v}`);
  return v;
}

/** images: n * h * w * c values in [-1, 1] (HWC per image), c = 1 or 3. */
export function imagesToGrid(
  images: Float32Array | Float64Array,
  n: number,
  h: number,
  w: number,
  c: number,
  options: GridOptions = {},
): RawImage {
  positiveInt('n', n, 1);
  positiveInt('h', h, 1);
  positiveInt('w', w, 1);
  if (c !== 1 && c !== 3) throw new RangeError(`image grid: channels must be 1 or 3, got ${c}`);
  if (images.length !== n * h * w * c) {
    throw new RangeError(`image grid: ${images.length} values, expected ${n} x ${h} x ${w} x ${c}`);
  }
  const cols = Math.min(positiveInt('cols', options.cols ?? Math.ceil(Math.sqrt(n)), 1), n);
  const pad = positiveInt('padding', options.padding ?? 2, 0);
  const scale = positiveInt('scale', options.scale ?? 1, 1);
  const bg = options.background ?? 0;
  if (!Number.isInteger(bg) || bg < 0 || bg > 255) {
    throw new RangeError(`image grid: background must be an integer 0..255, got ${bg}`);
  }
  const rows = Math.ceil(n / cols);
  const tw = w * scale;
  const th = h * scale;
  const width = cols * tw + (cols + 1) * pad;
  const height = rows * th + (rows + 1) * pad;
  const data = new Uint8Array(width * height * c).fill(bg);
  for (let i = 0; i < n; i++) {
    const x0 = pad + (i % cols) * (tw + pad);
    const y0 = pad + Math.floor(i / cols) * (th + pad);
    const src = i * h * w * c;
    for (let y = 0; y < th; y++) {
      const sy = Math.floor(y / scale);
      const dstRow = ((y0 + y) * width + x0) * c;
      for (let x = 0; x < tw; x++) {
        const s = src + (sy * w + Math.floor(x / scale)) * c;
        const d = dstRow + x * c;
        for (let ch = 0; ch < c; ch++) data[d + ch] = unitToByte(images[s + ch]);
      }
    }
  }
  return { width, height, channels: c, data };
}
