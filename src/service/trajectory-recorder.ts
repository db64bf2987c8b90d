/**
 * Keeps a sampling job's trajectory as its steps stream by, so that the finished job can be stored and reopened:
 * x (sigma space, as job-step carries it) at every noise level and the predicted x0 at every step, for the first
 * `count` samples. The arrays the worker transferred are kept as they come (no copy) unless only part of a batch is
 * kept; they are joined once, when the job is done.
 */

/** At most this many float32 values per stored array (x or x0): 32 MB, e.g. 4,000 2-D points x 1,000 steps. */
export const TRAJECTORY_MAX_VALUES = 8_000_000;

/** Samples of a batch of n whose trajectory fits the budget (at least one). */
export function samplesKept(n: number, steps: number, dim: number): number {
  return Math.max(1, Math.min(n, Math.floor(TRAJECTORY_MAX_VALUES / ((steps + 1) * dim))));
}

export interface RecordedTrajectory {
  /** (steps + 1) x count x dim: x at every noise level; the last entry is the final samples. */
  x: Float32Array;
  /** steps x count x dim: the predicted x0 at every step. */
  x0: Float32Array;
  /** Model evaluations done by the end of each step's report. */
  nfe: number[];
}

export class TrajectoryRecorder {
  readonly #x: (Float32Array | undefined)[];
  readonly #x0: (Float32Array | undefined)[];
  readonly #nfe: number[];
  readonly #size: number;

  /** `count` samples of `dim` values over `steps` steps. */
  constructor(
    readonly steps: number,
    readonly count: number,
    readonly dim: number,
  ) {
    this.#size = count * dim;
    this.#x = new Array<Float32Array | undefined>(steps);
    this.#x0 = new Array<Float32Array | undefined>(steps);
    this.#nfe = new Array<number>(steps).fill(0);
  }

  /** Step i's x and x0 (at least count samples each; extra samples are dropped) and the NFE so far. */
  step(i: number, x: Float32Array, x0: Float32Array, nfe: number): void {
    if (!(Number.isInteger(i) && i >= 0 && i < this.steps))
      throw new RangeError(`step ${i} is outside 0..${this.steps - 1}`);
    this.#x[i] = this.#take(x, `x of step ${i}`);
    this.#x0[i] = this.#take(x0, `x0 of step ${i}`);
    this.#nfe[i] = nfe;
  }

  /** The whole trajectory, given the final samples; throws if a step never arrived. */
  finish(final: Float32Array): RecordedTrajectory {
    const x = new Float32Array((this.steps + 1) * this.#size);
    const x0 = new Float32Array(this.steps * this.#size);
    for (let i = 0; i < this.steps; i++) {
      const xi = this.#x[i];
      const x0i = this.#x0[i];
      if (!xi || !x0i) throw new Error(`the trajectory is missing step ${i} of ${this.steps}`);
      x.set(xi, i * this.#size);
      x0.set(x0i, i * this.#size);
    }
    x.set(this.#take(final, 'the final samples'), this.steps * this.#size);
    return { x, x0, nfe: [...this.#nfe] };
  }

  #take(a: Float32Array, what: string): Float32Array {
    if (a.length < this.#size) throw new RangeError(`${what} holds ${a.length} values, fewer than ${this.#size}`);
    return a.length === this.#size ? a : a.slice(0, this.#size);
  }
}
