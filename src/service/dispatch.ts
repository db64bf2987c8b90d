/**
 * One entry point for hosts: call a contract method by name with its (untrusted) argument and get the outcome as a
 * CallResult envelope. IPC and HTTP handlers are both generated from CALL_NAMES and end here.
 */
import { isCallName, type CallResult, type StudioCalls } from '../api/contract.ts';
import { NotFoundError, serializeError } from '../api/errors.ts';

export async function dispatchCall(calls: StudioCalls, name: string, arg: unknown): Promise<CallResult<unknown>> {
  try {
    if (!isCallName(name)) throw new NotFoundError(`unknown API method "${name}"`);
    const method = calls[name] as (arg?: unknown) => Promise<unknown>;
    return { ok: true, value: await method.call(calls, arg) };
  } catch (e) {
    const error = serializeError(e);
    // Expected failures (bad input, unknown ids) need no stack on the other side; unexpected ones keep theirs.
    if (error.name === 'ValidationError' || error.name === 'NotFoundError') delete error.stack;
    return { ok: false, error };
  }
}
