/** Number formatting for readouts: compact, fixed significant digits, and the infinities spelled out. */
export function formatSigma(v: number): string {
  if (v === 0) return '0';
  if (!Number.isFinite(v)) return v > 0 ? '∞' : '−∞';
  return v >= 100 || v < 0.01 ? v.toExponential(2) : v.toPrecision(3);
}

export function formatLogSnr(v: number | null): string {
  if (v === null) return '—';
  if (!Number.isFinite(v)) return v > 0 ? '+∞' : '−∞';
  return (v >= 0 ? '+' : '−') + Math.abs(v).toFixed(2);
}

export function formatMs(ms: number | null): string {
  if (ms === null) return '—';
  return ms < 1000 ? `${ms.toFixed(0)} ms` : `${(ms / 1000).toFixed(2)} s`;
}

export function formatDate(epochMs: number): string {
  return new Date(epochMs).toLocaleString(undefined, { dateStyle: 'medium', timeStyle: 'short' });
}
