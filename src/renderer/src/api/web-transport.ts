/**
 * StudioTransport over the web host: calls are POST /api/<method> with JSON, events arrive on one WebSocket as
 * binary frames (event-codec.ts). The socket reconnects on its own; calls wait briefly for it so that a job's first
 * events are not missed because the socket was still opening.
 */
import { HTTP, type CallResult, type EventListener, type StudioTransport } from '../../../api/contract.ts';
import { decodeEvent } from '../../../api/event-codec.ts';

const CONNECT_WAIT_MS = 3000;
const RETRY_MIN_MS = 250;
const RETRY_MAX_MS = 5000;

export function createWebTransport(page: URL): StudioTransport {
  const listeners = new Set<EventListener>();
  let retryMs = RETRY_MIN_MS;
  let markOpen: () => void = () => {};
  let opened = new Promise<void>((resolve) => (markOpen = resolve));

  const connect = () => {
    const url = new URL(HTTP.events, page);
    url.protocol = page.protocol === 'https:' ? 'wss:' : 'ws:';
    const socket = new WebSocket(url);
    socket.binaryType = 'arraybuffer';
    socket.onopen = () => {
      retryMs = RETRY_MIN_MS;
      markOpen();
    };
    socket.onmessage = (message) => {
      if (!(message.data instanceof ArrayBuffer)) return;
      const event = decodeEvent<Parameters<EventListener>[0]>(message.data);
      for (const listener of listeners) listener(event);
    };
    socket.onclose = () => {
      opened = new Promise<void>((resolve) => (markOpen = resolve));
      setTimeout(connect, retryMs);
      retryMs = Math.min(retryMs * 2, RETRY_MAX_MS);
    };
  };
  connect();

  return {
    async call(name, arg) {
      await Promise.race([opened, new Promise((resolve) => setTimeout(resolve, CONNECT_WAIT_MS))]);
      try {
        const response = await fetch(new URL(HTTP.call(name), page), {
          method: 'POST',
          headers: { 'Content-Type': 'application/json' },
          body: arg === undefined ? undefined : JSON.stringify(arg),
        });
        return (await response.json()) as CallResult<never>;
      } catch (e) {
        return {
          ok: false,
          error: { name: 'NetworkError', message: `the studio server did not answer: ${(e as Error).message}` },
        };
      }
    },
    onEvent(listener) {
      listeners.add(listener);
      return () => listeners.delete(listener);
    },
  };
}
