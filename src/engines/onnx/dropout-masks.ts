/**
 * Dropout masks for the compiled training step, made on the host: a pure function of (step seed, dropout node,
 * element), so a resumed run draws exactly the masks it would have drawn. Philox (rng.ts) costs ~90 ns a value here,
 * 3 s a step for the base U-Net's 35M mask elements; a counter hash (Wellons' lowbias32, applied twice to mix in the
 * seed) costs ~3 ns and is plenty for Bernoulli masks.
 */

/** lowbias32: a 32-bit integer hash with low bias (Chris Wellons, "hash-prospector"). */
export function mix32(x: number): number {
  x ^= x >>> 16;
  x = Math.imul(x, 0x7feb352d);
  x ^= x >>> 15;
  x = Math.imul(x, 0x846ca68b);
  x ^= x >>> 16;
  return x >>> 0;
}

/**
 * Fills `out` with 0 (probability `rate`) or 1 / (1 - rate), element i decided by hash(key(seed, node) + i).
 * `seed` is any non-negative safe integer (the trainer's per-step dropout seed).
 */
export function fillDropoutMask(out: Float32Array, seed: number, node: number, rate: number): void {
  if (!(rate >= 0 && rate < 1)) throw new RangeError(`dropout rate must be in [0, 1), got ${rate}`);
  const lo = (seed % 4294967296) >>> 0;
  const hi = Math.floor(seed / 4294967296) >>> 0;
  const key = mix32(lo ^ mix32(hi ^ mix32(Math.imul(node + 1, 0x9e3779b9))));
  const threshold = Math.floor(rate * 4294967296);
  const keep = 1 / (1 - rate);
  for (let i = 0; i < out.length; i++) out[i] = mix32((key + i) >>> 0) < threshold ? 0 : keep;
}
