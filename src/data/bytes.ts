/**
 * Helpers shared by every dataset's read(): byte pixels to the model's range, v / 127.5 - 1 (0 -> -1, 255 -> 1),
 * and index checks. The lookup table holds exactly the float32 rounding of that float64 expression and is faster
 * than dividing per pixel.
 */
export const BYTE_TO_UNIT: Float32Array = Float32Array.from({ length: 256 }, (_, v) => v / 127.5 - 1);

/** Write `count` bytes from src[start..] to out[offset..] scaled to [-1, 1]. */
export function bytesToUnit(src: Uint8Array, start: number, count: number, out: Float32Array, offset: number): void {
  checkOut(out, offset, count);
  for (let i = 0; i < count; i++) out[offset + i] = BYTE_TO_UNIT[src[start + i]];
}

/** A bad index is a caller bug, reported as a RangeError. */
export function checkIndex(index: number, size: number, name: string): void {
  if (!Number.isInteger(index) || index < 0 || index >= size) {
    throw new RangeError(`${name}: index ${index} out of range [0, ${size})`);
  }
}

export function checkOut(out: Float32Array, offset: number, count: number): void {
  if (!Number.isInteger(offset) || offset < 0 || offset + count > out.length) {
    throw new RangeError(`output buffer too small: need ${count} values at offset ${offset}, have ${out.length}`);
  }
}
