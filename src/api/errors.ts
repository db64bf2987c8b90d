/**
 * Errors crossing a boundary (thread, process, network) travel as {name, message, stack?} and are rebuilt on the
 * other side with the same name, so callers can branch on `error.name` whatever transport carried it.
 */
import type { SerializedError } from './contract.ts';

export function serializeError(e: unknown): SerializedError {
  if (e instanceof Error) {
    return { name: e.name, message: e.message, ...(e.stack ? { stack: e.stack } : {}) };
  }
  if (e && typeof e === 'object' && 'message' in e && typeof e.message === 'string') {
    const name = 'name' in e && typeof e.name === 'string' ? e.name : 'Error';
    return { name, message: e.message };
  }
  return { name: 'Error', message: String(e) };
}

/** An error rebuilt from its serialized form; `name` is the original one (e.g. 'ValidationError'). */
export class RemoteError extends Error {
  constructor(serialized: SerializedError) {
    super(serialized.message);
    this.name = serialized.name;
    if (serialized.stack) this.stack = serialized.stack;
  }
}

export function deserializeError(serialized: SerializedError): Error {
  return new RemoteError(serialized);
}

/** A request the caller got wrong (bad argument, unknown sampler). Hosts answer it with a 4xx, not a 5xx. */
export class ValidationError extends Error {
  override name = 'ValidationError';
}

/** The request named something that does not exist (method, job, preset). */
export class NotFoundError extends Error {
  override name = 'NotFoundError';
}
