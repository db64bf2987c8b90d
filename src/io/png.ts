/**
 * PNG encode/decode through sharp (libvips + libpng), for sample grids, previews and tests. 8-bit only:
 * 1 channel is written as grayscale, 3 as RGB.
 */
import sharp from 'sharp';
import { imagesToGrid, type GridOptions, type RawImage } from './image-grid.ts';

export async function encodePng(image: RawImage): Promise<Buffer> {
  const { width, height, channels, data } = image;
  if (channels !== 1 && channels !== 2 && channels !== 3 && channels !== 4) {
    throw new RangeError(`png: channels must be 1..4, got ${channels}`);
  }
  if (data.length !== width * height * channels) {
    throw new RangeError(`png: ${data.length} bytes, expected ${width} x ${height} x ${channels}`);
  }
  const img = sharp(data, { raw: { width, height, channels } });
  // Without an explicit colourspace libvips would write a one-channel image as RGB.
  return (channels <= 2 ? img.toColourspace('b-w') : img).png().toBuffer();
}

/** Decode a PNG (or anything sharp reads) to 8-bit HWC pixels, keeping its channel count. */
export async function decodePng(buffer: Uint8Array): Promise<RawImage> {
  const img = sharp(buffer);
  // sharp's raw output is sRGB unless asked otherwise; keep grayscale files grayscale.
  const { channels } = await img.metadata();
  const { data, info } = await (channels !== undefined && channels <= 2 ? img.toColourspace('b-w') : img)
    .raw({ depth: 'uchar' })
    .toBuffer({ resolveWithObject: true });
  return {
    width: info.width,
    height: info.height,
    channels: info.channels,
    data: new Uint8Array(data.buffer, data.byteOffset, data.byteLength),
  };
}

/** A batch of [-1, 1] images (n * h * w * c, HWC) as one PNG grid; see image-grid.ts for layout and rounding. */
export async function imagesToGridPng(
  images: Float32Array | Float64Array,
  n: number,
  h: number,
  w: number,
  c: number,
  options?: GridOptions,
): Promise<Buffer> {
  return encodePng(imagesToGrid(images, n, h, w, c, options));
}
