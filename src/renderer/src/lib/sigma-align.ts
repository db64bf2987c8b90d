/**
 * Two trajectories side by side, aligned by noise level rather than step index: a 10-step and a 50-step cell pass
 * through the same sigma at different steps. The shared axis is the union of both cells' noise levels (descending);
 * each cell shows its step whose sigma is nearest in log space (sigma = 0, the final samples, matches only 0).
 */

/** Index of the entry of `sigmas` nearest to `sigma` in log space. */
export function nearestSigmaIndex(sigmas: readonly number[], sigma: number): number {
  let best = 0;
  let bestDistance = Infinity;
  for (let k = 0; k < sigmas.length; k++) {
    const s = sigmas[k];
    const d = s === 0 || sigma === 0 ? (s === sigma ? 0 : Infinity) : Math.abs(Math.log(s) - Math.log(sigma));
    if (d < bestDistance) {
      bestDistance = d;
      best = k;
    }
  }
  return best;
}

/** The union of noise levels, highest first, with near-duplicates (relative 1e-9) merged. */
export function mergedSigmas(a: readonly number[], b: readonly number[]): number[] {
  const all = [...a, ...b].sort((x, y) => y - x);
  const out: number[] = [];
  for (const s of all) {
    const last = out[out.length - 1];
    if (last === undefined || Math.abs(last - s) > 1e-9 * Math.max(last, s)) out.push(s);
  }
  return out;
}
