/** Text for the training commands' console output: progress lines (throttled), durations, sizes. */
import type { TrainProgress } from '../train/progress.ts';

/** Seconds as h:mm:ss (hours unbounded); '-:--:--' when unknown. */
export function formatDuration(seconds: number): string {
  if (!Number.isFinite(seconds) || seconds < 0) return '-:--:--';
  const s = Math.round(seconds);
  const h = Math.floor(s / 3600);
  const m = Math.floor((s % 3600) / 60);
  return `${h}:${String(m).padStart(2, '0')}:${String(s % 60).padStart(2, '0')}`;
}

export function formatLoss(v: number | null | undefined): string {
  if (v === null || v === undefined) return '-';
  if (!Number.isFinite(v)) return String(v);
  return Math.abs(v) >= 1e-3 && Math.abs(v) < 1e4 ? v.toFixed(4) : v.toExponential(3);
}

export function formatBytes(n: number): string {
  if (n < 1024) return `${n} B`;
  if (n < 1024 ** 2) return `${(n / 1024).toFixed(1)} KiB`;
  if (n < 1024 ** 3) return `${(n / 1024 ** 2).toFixed(1)} MiB`;
  return `${(n / 1024 ** 3).toFixed(2)} GiB`;
}

export function progressLine(p: TrainProgress): string {
  const width = String(p.totalSteps).length;
  const rate = p.imagesPerSec >= 100 ? p.imagesPerSec.toFixed(0) : p.imagesPerSec.toPrecision(3);
  return (
    `step ${String(p.step).padStart(width)}/${p.totalSteps}  loss ${formatLoss(p.loss)}  ` +
    `smoothed ${formatLoss(p.lossSmoothed)}  ${rate} samples/s  ETA ${formatDuration(p.etaSeconds)}`
  );
}

/**
 * The trainer reports about twice a second; a console wants at most one line a second, plus the final step so the
 * last line always shows where the run ended.
 */
export class ProgressPrinter {
  #last = -Infinity;

  constructor(
    private readonly write: (line: string) => void,
    private readonly intervalMs = 1000,
    private readonly now: () => number = () => performance.now(),
  ) {}

  report(p: TrainProgress): void {
    const t = this.now();
    if (t - this.#last < this.intervalMs && p.step !== p.totalSteps) return;
    this.#last = t;
    this.write(progressLine(p));
  }
}
