/**
 * JSON columns at the boundary. Writing: the value must be real JSON (no NaN, Infinity, undefined, functions,
 * bigint, class instances or cycles), because JSON.stringify silently turns those into null or drops them and a
 * config read back would then differ from the one that trained the run. Reading: the text must parse and have the
 * expected shape; errors name the table, column and row.
 */
import type { JsonObject, JsonValue } from './types.ts';

function isPlainObject(v: object): boolean {
  const proto = Object.getPrototypeOf(v);
  return proto === Object.prototype || proto === null;
}

/** Throws an Error naming the offending path (e.g. "config.optimizer.lr is NaN") if value is not plain JSON. */
export function assertJson(value: unknown, what: string, seen: Set<object> = new Set()): asserts value is JsonValue {
  if (value === null || typeof value === 'string' || typeof value === 'boolean') return;
  if (typeof value === 'number') {
    if (!Number.isFinite(value)) throw new Error(`${what} is ${value}, which JSON cannot represent`);
    return;
  }
  if (typeof value !== 'object') throw new Error(`${what} is a ${typeof value}, which is not JSON`);
  if (seen.has(value)) throw new Error(`${what} is a circular reference`);
  seen.add(value);
  if (Array.isArray(value)) {
    value.forEach((item, i) => assertJson(item, `${what}[${i}]`, seen));
  } else {
    if (!isPlainObject(value)) {
      throw new Error(`${what} is a ${value.constructor?.name ?? 'non-plain'} object, not a plain JSON object`);
    }
    for (const [key, item] of Object.entries(value)) assertJson(item, `${what}.${key}`, seen);
  }
  seen.delete(value);
}

export function isJsonObject(value: unknown): value is JsonObject {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

/** Serializes a JSON object for a column; `what` names it in errors (e.g. "run config"). */
export function objectToJson(value: unknown, what: string): string {
  if (!isJsonObject(value)) throw new Error(`${what} must be a JSON object, got ${describe(value)}`);
  assertJson(value, what);
  return JSON.stringify(value);
}

export function valueToJson(value: unknown, what: string): string {
  assertJson(value, what);
  return JSON.stringify(value);
}

export function parseJson(text: string, where: string): JsonValue {
  try {
    return JSON.parse(text) as JsonValue;
  } catch (err) {
    throw new Error(`${where} is not valid JSON: ${(err as Error).message}`);
  }
}

export function parseJsonObject(text: string, where: string): JsonObject {
  const value = parseJson(text, where);
  if (!isJsonObject(value)) throw new Error(`${where} should hold a JSON object, found ${describe(value)}`);
  return value;
}

function describe(value: unknown): string {
  if (value === null) return 'null';
  if (Array.isArray(value)) return 'an array';
  return typeof value === 'object' ? 'an object' : `a ${typeof value}`;
}
