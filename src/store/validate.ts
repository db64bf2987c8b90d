/** Argument checks for the repository API: fail at the call with a message that names the field. */

export function requireText(value: unknown, what: string): string {
  if (typeof value !== 'string' || value.length === 0) throw new Error(`${what} must be a non-empty string`);
  return value;
}

export function optionalText(value: unknown, what: string): string | null {
  if (value === undefined || value === null) return null;
  if (typeof value !== 'string') throw new Error(`${what} must be a string or null`);
  return value;
}

export function requireInt(value: unknown, what: string, min = 0): number {
  if (typeof value !== 'number' || !Number.isSafeInteger(value) || value < min) {
    throw new Error(`${what} must be an integer >= ${min}, got ${String(value)}`);
  }
  return value;
}

export function requireOneOf<T extends string>(value: unknown, allowed: readonly T[], what: string): T {
  if (!allowed.includes(value as T)) {
    throw new Error(`${what} must be one of ${allowed.join(', ')}; got ${String(value)}`);
  }
  return value as T;
}

/** A number for a REAL column; NaN becomes NULL (SQLite cannot store NaN), infinities are kept. */
export function realOrNull(value: unknown, what: string): number | null {
  if (value === null || value === undefined) return null;
  if (typeof value !== 'number') throw new Error(`${what} must be a number, got ${typeof value}`);
  return Number.isNaN(value) ? null : value;
}
