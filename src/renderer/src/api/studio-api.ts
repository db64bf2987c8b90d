/**
 * The renderer's single door to the studio. Electron's preload provides window.studio; in a browser the web
 * transport talks to `npm run serve`. Both are StudioTransports, turned here into the same StudioApi, so no
 * component can tell (or needs to know) which host it runs in.
 */
import {
  CALL_NAMES,
  type CallName,
  type StudioApi,
  type StudioCalls,
  type StudioTransport,
} from '../../../api/contract.ts';
import { deserializeError } from '../../../api/errors.ts';
import { createWebTransport } from './web-transport.ts';

export function createStudioApi(transport: StudioTransport): StudioApi {
  const calls = Object.fromEntries(
    CALL_NAMES.map((name: CallName) => [
      name,
      async (arg?: unknown) => {
        const result = await transport.call(name, arg as never);
        if (result.ok) return result.value;
        throw deserializeError(result.error);
      },
    ]),
  ) as unknown as StudioCalls;
  return { ...calls, onEvent: (listener) => transport.onEvent(listener) };
}

let api: StudioApi | undefined;

export function getStudioApi(): StudioApi {
  api ??= createStudioApi(window.studio ?? createWebTransport(new URL(window.location.href)));
  return api;
}
