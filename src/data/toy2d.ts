/**
 * Named 2-D toy sets for watching a diffusion model learn a density you can see. Point i is a pure function of
 * (seed, i) (its own Philox stream, see streams.ts), so a larger toySize only appends points. Every set is centred
 * and scaled by constants (not by the sample's own statistics, which would make point i depend on the size) to
 * about unit variance per coordinate.
 */
import { NormalStream, StreamPurpose } from '../core/rng.ts';
import { checkIndex, checkOut } from './bytes.ts';
import type { Dataset } from './dataset.ts';
import { DATA_BLOCK_HIGH, TWO_POW_32 } from './streams.ts';

export const TOY_NAMES = ['ring', 'gaussian-grid', 'moons', 'swiss-roll', 'checkerboard'] as const;
export type ToyName = (typeof TOY_NAMES)[number];

export const DEFAULT_TOY_SIZE = 10_000;

/** Classes per set: the mixture component where the set is a mixture, the moon for moons, else 0 (unlabeled). */
export const TOY_CLASSES: Record<ToyName, number> = {
  ring: 8,
  'gaussian-grid': 25,
  moons: 2,
  'swiss-roll': 0,
  checkerboard: 0,
};

// ring: 8 Gaussians (std RING_STD) on a circle of radius R; per-coordinate variance R^2 / 2 + std^2 = 1.
const RING_STD = 0.1;
const RING_R = Math.sqrt(2 * (1 - RING_STD ** 2));
// gaussian-grid: 5x5 Gaussians at spacing d; the grid's variance per axis is 2 d^2, so 2 d^2 + std^2 = 1.
const GRID_STD = 0.1;
const GRID_D = Math.sqrt((1 - GRID_STD ** 2) / 2);
// moons (the scikit-learn construction): per-axis means (0.5, 0.25), variances 0.75 and 0.5625 - 1/pi, plus the
// noise; one common scale for both axes keeps the shape.
const MOON_NOISE = 0.05;
const MOON_SCALE = 1 / Math.sqrt((0.75 + 0.5625 - 1 / Math.PI) / 2 + MOON_NOISE ** 2);
// swiss roll: (t cos t, t sin t), t uniform in [1.5 pi, 4.5 pi]; moments by quadrature below.
const ROLL_NOISE = 0.3;
const ROLL_T0 = 1.5 * Math.PI;
const ROLL_T1 = 4.5 * Math.PI;
const ROLL = rollMoments();
// checkerboard: uniform on 8 of the 16 unit squares of [-2, 2]^2; each marginal is uniform, variance 4/3.
const CHECK_SCALE = Math.sqrt(3) / 2;

/** Mean and common scale of the swiss roll, by a fine midpoint rule (deterministic, independent of toySize). */
function rollMoments(): { mx: number; my: number; scale: number } {
  const n = 20_000;
  let sx = 0;
  let sy = 0;
  let sxx = 0;
  let syy = 0;
  for (let i = 0; i < n; i++) {
    const t = ROLL_T0 + ((i + 0.5) / n) * (ROLL_T1 - ROLL_T0);
    const x = t * Math.cos(t);
    const y = t * Math.sin(t);
    sx += x;
    sy += y;
    sxx += x * x;
    syy += y * y;
  }
  const mx = sx / n;
  const my = sy / n;
  const v = (sxx / n - mx * mx + (syy / n - my * my)) / 2 + ROLL_NOISE ** 2;
  return { mx, my, scale: 1 / Math.sqrt(v) };
}

/** Point i of set `name` written to out[o], out[o + 1]; returns its label (-1 for unlabeled sets). */
function toyPoint(name: ToyName, stream: NormalStream, out: Float32Array, o: number): number {
  const n = new Float64Array(2);
  switch (name) {
    case 'ring': {
      const k = Math.floor(stream.uniform() * 8);
      const a = (2 * Math.PI * k) / 8;
      stream.fill(n);
      out[o] = RING_R * Math.cos(a) + RING_STD * n[0];
      out[o + 1] = RING_R * Math.sin(a) + RING_STD * n[1];
      return k;
    }
    case 'gaussian-grid': {
      const k = Math.floor(stream.uniform() * 25);
      stream.fill(n);
      out[o] = GRID_D * ((k % 5) - 2) + GRID_STD * n[0];
      out[o + 1] = GRID_D * (Math.floor(k / 5) - 2) + GRID_STD * n[1];
      return k;
    }
    case 'moons': {
      const moon = stream.uniform() < 0.5 ? 0 : 1;
      const t = Math.PI * stream.uniform();
      stream.fill(n);
      const x = moon === 0 ? Math.cos(t) : 1 - Math.cos(t);
      const y = moon === 0 ? Math.sin(t) : 0.5 - Math.sin(t);
      out[o] = MOON_SCALE * (x + MOON_NOISE * n[0] - 0.5);
      out[o + 1] = MOON_SCALE * (y + MOON_NOISE * n[1] - 0.25);
      return moon;
    }
    case 'swiss-roll': {
      const t = ROLL_T0 + stream.uniform() * (ROLL_T1 - ROLL_T0);
      stream.fill(n);
      out[o] = ROLL.scale * (t * Math.cos(t) + ROLL_NOISE * n[0] - ROLL.mx);
      out[o + 1] = ROLL.scale * (t * Math.sin(t) + ROLL_NOISE * n[1] - ROLL.my);
      return -1;
    }
    case 'checkerboard': {
      const c = Math.floor(stream.uniform() * 8);
      const row = c >> 1;
      const col = 2 * (c & 1) + (row & 1); // alternate columns per row: a checkerboard
      out[o] = CHECK_SCALE * (col + stream.uniform() - 2);
      out[o + 1] = CHECK_SCALE * (row + stream.uniform() - 2);
      return -1;
    }
  }
}

export function isToyName(name: string): name is ToyName {
  return (TOY_NAMES as readonly string[]).includes(name);
}

/** `count` points of a toy set ([count * 2], point-major) and their labels (-1 where unlabeled). */
export function toyPoints(name: ToyName, count: number, seed = 0): { points: Float32Array; labels: Int32Array } {
  if (!isToyName(name)) throw new RangeError(`unknown toy set '${name}' (known: ${TOY_NAMES.join(', ')})`);
  if (!Number.isSafeInteger(count) || count <= 0 || count > TWO_POW_32) {
    throw new RangeError(`toy set size must be a positive integer, got ${count}`);
  }
  const points = new Float32Array(count * 2);
  const labels = new Int32Array(count);
  for (let i = 0; i < count; i++) {
    const stream = new NormalStream(seed, i, StreamPurpose.data, DATA_BLOCK_HIGH.toy * TWO_POW_32);
    labels[i] = toyPoint(name, stream, points, 2 * i);
  }
  return { points, labels };
}

export function openToy(name: ToyName, size = DEFAULT_TOY_SIZE, seed = 0): Dataset {
  const { points, labels } = toyPoints(name, size, seed);
  return {
    name: `toy:${name}`,
    size,
    shape: [2],
    numClasses: TOY_CLASSES[name],
    read(index: number, out: Float32Array, offset: number): number {
      checkIndex(index, size, `toy:${name}`);
      checkOut(out, offset, 2);
      out[offset] = points[2 * index];
      out[offset + 1] = points[2 * index + 1];
      return labels[index];
    },
  };
}
