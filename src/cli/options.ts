/** Parsing helpers that turn flag strings into checked values, each failure a UsageError naming the flag. */
import { UsageError } from './errors.ts';

export function intFlag(
  name: string,
  raw: string | undefined,
  min: number,
  max = Number.MAX_SAFE_INTEGER,
): number | undefined {
  if (raw === undefined) return undefined;
  const v = Number(raw);
  if (raw.trim() === '' || !Number.isInteger(v) || v < min || v > max) {
    const range = max === Number.MAX_SAFE_INTEGER ? `>= ${min}` : `in ${min}..${max}`;
    throw new UsageError(`--${name} must be an integer ${range} (got "${raw}")`);
  }
  return v;
}

export function floatFlag(
  name: string,
  raw: string | undefined,
  check?: (v: number) => string | null,
): number | undefined {
  if (raw === undefined) return undefined;
  const v = Number(raw);
  if (raw.trim() === '' || !Number.isFinite(v)) throw new UsageError(`--${name} must be a number (got "${raw}")`);
  const problem = check?.(v);
  if (problem) throw new UsageError(`--${name} ${problem} (got "${raw}")`);
  return v;
}

export function choiceFlag<T extends string>(
  name: string,
  raw: string | undefined,
  choices: readonly T[],
): T | undefined {
  if (raw === undefined) return undefined;
  if (!(choices as readonly string[]).includes(raw)) {
    throw new UsageError(`--${name} must be one of ${choices.join(', ')} (got "${raw}")`);
  }
  return raw as T;
}
