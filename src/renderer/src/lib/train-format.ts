/** Labels and numbers of the training views. */
import type { RunStatus, TrainState } from '../../../api/contract.ts';

/** The store's run status as the UI names it ('cancelled' training runs were stopped and can be resumed). */
export function trainState(status: RunStatus): TrainState {
  return status === 'cancelled' ? 'stopped' : status;
}

export function formatLoss(v: number | null | undefined): string {
  if (v === null || v === undefined || Number.isNaN(v)) return '—';
  return v >= 0.01 && v < 1000 ? v.toPrecision(4) : v.toExponential(3);
}

/** Short enough for a tenth of the strip: 3 significant digits, exponent form below 0.01. */
export function formatBucket(v: number | null): string {
  if (v === null || !Number.isFinite(v)) return '—';
  return v >= 0.01 ? v.toPrecision(3) : v.toExponential(1);
}

export function formatEta(seconds: number | null | undefined): string {
  if (seconds === null || seconds === undefined || !Number.isFinite(seconds)) return '—';
  const s = Math.max(0, Math.round(seconds));
  if (s < 60) return `${s} s`;
  if (s < 3600) return `${Math.floor(s / 60)} min ${String(s % 60).padStart(2, '0')} s`;
  return `${Math.floor(s / 3600)} h ${String(Math.floor((s % 3600) / 60)).padStart(2, '0')} min`;
}

export function formatRate(v: number | null | undefined): string {
  if (v === null || v === undefined || !Number.isFinite(v)) return '—';
  return v >= 100 ? v.toFixed(0) : v.toPrecision(3);
}

/** Exponential moving average, TensorBoard style (debiased so the start is not pulled towards 0). */
export function smooth(values: readonly number[], weight: number): number[] {
  const out = new Array<number>(values.length);
  let last = 0;
  let n = 0;
  for (let i = 0; i < values.length; i++) {
    const v = values[i];
    if (!Number.isFinite(v)) {
      out[i] = NaN;
      continue;
    }
    last = last * weight + (1 - weight) * v;
    n++;
    out[i] = weight === 0 ? v : last / (1 - weight ** n);
  }
  return out;
}
