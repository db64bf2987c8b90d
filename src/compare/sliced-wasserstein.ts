/**
 * Sliced Wasserstein-2 distance between two point sets in R^dim: the root mean over random unit directions of the
 * squared 1-D W2 distance of the projections. In 1-D, W2 compares sorted values (quantile functions); sets of
 * different sizes are compared at the smaller set's quantiles (u = (i + 0.5) / n), the larger set's quantile
 * function read off by linear interpolation.
 *
 * It scores stochastic samplers, which have no per-sample target: it is 0 only when the distributions match (up to
 * the sampling error of the sets, roughly 1 / sqrt(n)). Directions come from a fixed stream, so the number is
 * reproducible and every cell is measured along the same directions.
 */
import { NormalStream } from '../core/rng.ts';
import type { Vec } from '../core/types.ts';

/** A stream purpose of its own (rng.ts's purposes end at 6; 5 is sampleMixture's default). */
const DIRECTION_PURPOSE = 7;

function quantile(sorted: Float64Array, u: number): number {
  const pos = u * sorted.length - 0.5;
  if (pos <= 0) return sorted[0];
  if (pos >= sorted.length - 1) return sorted[sorted.length - 1];
  const i = Math.floor(pos);
  return sorted[i] + (pos - i) * (sorted[i + 1] - sorted[i]);
}

export function slicedWasserstein(a: Vec, b: Vec, dim: number, directions = 64): number {
  const na = a.length / dim;
  const nb = b.length / dim;
  if (!Number.isInteger(na) || !Number.isInteger(nb) || na === 0 || nb === 0) {
    throw new RangeError('sliced Wasserstein: both sets need a whole, non-zero number of points');
  }
  const [small, ns, large, nl] = na <= nb ? [a, na, b, nb] : [b, nb, a, na];
  const dir = new Float64Array(dim);
  const ps = new Float64Array(ns);
  const pl = new Float64Array(nl);
  let total = 0;
  for (let l = 0; l < directions; l++) {
    new NormalStream(0, l, DIRECTION_PURPOSE).fill(dir);
    const norm = Math.hypot(...dir);
    for (let d = 0; d < dim; d++) dir[d] /= norm;
    const project = (src: Vec, out: Float64Array) => {
      for (let j = 0; j < out.length; j++) {
        let s = 0;
        for (let d = 0; d < dim; d++) s += src[j * dim + d] * dir[d];
        out[j] = s;
      }
      out.sort();
    };
    project(small, ps);
    project(large, pl);
    let w2 = 0;
    for (let i = 0; i < ns; i++) w2 += (ps[i] - quantile(pl, (i + 0.5) / ns)) ** 2;
    total += w2 / ns;
  }
  return Math.sqrt(total / directions);
}
