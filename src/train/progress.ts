/**
 * What a running training job reports: loss (raw and smoothed), loss per timestep bucket over the window since the
 * last report, throughput and ETA. Reports are throttled to `intervalMs`, and a step slower than that reports every
 * time, so a UI sees at least two updates a second whenever steps allow it.
 */
export const LOSS_BUCKETS = 10;

export interface TrainProgress {
  runId: string;
  step: number;
  totalSteps: number;
  loss: number;
  lossSmoothed: number;
  lr: number;
  gradNorm: number;
  /** Mean loss per timestep bucket (bucket k covers t in [k T/10, (k+1) T/10)) since the last report; null = none. */
  bucketLoss: (number | null)[];
  imagesPerSec: number;
  etaSeconds: number;
  elapsedMs: number;
  backend: string;
}

export class ProgressTracker {
  private bucketSum = new Float64Array(LOSS_BUCKETS);
  private bucketCount = new Uint32Array(LOSS_BUCKETS);
  private smoothed = NaN;
  private stepMsAvg = NaN;
  private lastReport = -Infinity;
  private readonly started = performance.now();

  constructor(
    private readonly totalSteps: number,
    private readonly batchSize: number,
    private readonly T: number,
    private readonly intervalMs = 500,
  ) {}

  /** Continue the smoothed loss from a resumed run's stored losses (oldest first), as if they had been recorded. */
  seedLosses(losses: readonly number[]): void {
    for (const loss of losses) this.smoothed = this.#smooth(loss);
  }

  #smooth(loss: number): number {
    return Number.isNaN(this.smoothed) ? loss : 0.98 * this.smoothed + 0.02 * loss;
  }

  /** Record one step; returns the report when one is due. */
  record(args: {
    runId: string;
    step: number;
    loss: number;
    perSample: ArrayLike<number>;
    t: Int32Array;
    lr: number;
    gradNorm: number;
    stepMs: number;
    backend: string;
  }): TrainProgress | null {
    for (let j = 0; j < args.t.length; j++) {
      const k = Math.min(LOSS_BUCKETS - 1, Math.floor((args.t[j] * LOSS_BUCKETS) / this.T));
      this.bucketSum[k] += args.perSample[j];
      this.bucketCount[k] += 1;
    }
    this.smoothed = this.#smooth(args.loss);
    this.stepMsAvg = Number.isNaN(this.stepMsAvg) ? args.stepMs : 0.9 * this.stepMsAvg + 0.1 * args.stepMs;
    const now = performance.now();
    const due = now - this.lastReport >= this.intervalMs || args.step === this.totalSteps;
    if (!due) return null;
    this.lastReport = now;
    const bucketLoss = Array.from(this.bucketSum, (s, k) => (this.bucketCount[k] ? s / this.bucketCount[k] : null));
    this.bucketSum.fill(0);
    this.bucketCount.fill(0);
    return {
      runId: args.runId,
      step: args.step,
      totalSteps: this.totalSteps,
      loss: args.loss,
      lossSmoothed: this.smoothed,
      lr: args.lr,
      gradNorm: args.gradNorm,
      bucketLoss,
      imagesPerSec: (1000 * this.batchSize) / this.stepMsAvg,
      etaSeconds: ((this.totalSteps - args.step) * this.stepMsAvg) / 1000,
      elapsedMs: now - this.started,
      backend: args.backend,
    };
  }
}
