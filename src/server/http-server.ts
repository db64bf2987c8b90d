/**
 * The web host: the same service the Electron main exposes over IPC, here over HTTP and a WebSocket.
 * - POST /api/<method>: JSON body = the call's argument; JSON reply = CallResult envelope (status 200, 400, 404, 500).
 * - GET /events (WebSocket): every StudioEvent as one binary frame (event-codec.ts), typed arrays as raw bytes.
 * - GET /exports/<name>: a file the user exported (export-files.ts).
 * - Anything else: the built renderer.
 */
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { WebSocketServer, WebSocket } from 'ws';
import { HTTP, type CallResult, type StudioCalls, type StudioEvent } from '../api/contract.ts';
import { encodeEvent } from '../api/event-codec.ts';
import { dispatchCall } from '../service/dispatch.ts';
import { requestAllowed } from './request-guard.ts';
import { serveStatic } from './static-files.ts';
import { EXPORTS_PREFIX, serveExport } from './export-files.ts';

const MAX_BODY_BYTES = 1 << 20;
const API_PREFIX = '/api/';

export interface EventSource {
  onEvent(listener: (event: StudioEvent) => void): () => void;
}

export interface StudioHttpServerOptions {
  service: StudioCalls & EventSource;
  staticDir: string;
  /** Whether the server listens on a loopback address only (then Host must be a loopback name). */
  loopbackOnly: boolean;
  /** The exports folder (dataPaths(dataDir).exports), served read-only at /exports/<name>. */
  exportsDir?: string;
}

export interface StudioHttpServer {
  server: Server;
  close(): Promise<void>;
}

function statusOf(result: CallResult<unknown>): number {
  if (result.ok) return 200;
  if (result.error.name === 'ValidationError') return 400;
  if (result.error.name === 'NotFoundError') return 404;
  return 500;
}

function sendJson(res: ServerResponse, status: number, body: unknown): void {
  const text = JSON.stringify(body);
  res.writeHead(status, {
    'Content-Type': 'application/json; charset=utf-8',
    'Content-Length': Buffer.byteLength(text),
    'Cache-Control': 'no-store',
    'X-Content-Type-Options': 'nosniff',
  });
  res.end(text);
}

function readBody(req: IncomingMessage): Promise<string> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let size = 0;
    req.on('data', (chunk: Buffer) => {
      size += chunk.length;
      if (size > MAX_BODY_BYTES) {
        reject(new Error(`request body exceeds ${MAX_BODY_BYTES} bytes`));
        req.destroy();
      } else chunks.push(chunk);
    });
    req.on('end', () => resolve(Buffer.concat(chunks).toString('utf8')));
    req.on('error', reject);
  });
}

function failure(name: string, message: string): CallResult<never> {
  return { ok: false, error: { name, message } };
}

async function handleCall(service: StudioCalls, name: string, req: IncomingMessage, res: ServerResponse) {
  if (req.method !== 'POST') {
    res.setHeader('Allow', 'POST');
    return sendJson(res, 405, failure('MethodNotAllowed', 'API calls are POST requests'));
  }
  // A JSON content type cannot be sent cross-origin without a CORS preflight, which this server never grants.
  if (!/^application\/json\b/i.test(req.headers['content-type'] ?? '')) {
    return sendJson(res, 415, failure('ValidationError', 'API calls need Content-Type: application/json'));
  }
  let arg: unknown;
  try {
    const body = await readBody(req);
    arg = body.trim() === '' ? undefined : JSON.parse(body);
  } catch (e) {
    return sendJson(res, 400, failure('ValidationError', `bad request body: ${(e as Error).message}`));
  }
  const result = await dispatchCall(service, name, arg ?? undefined);
  sendJson(res, statusOf(result), result);
}

export function createStudioHttpServer(options: StudioHttpServerOptions): StudioHttpServer {
  const { service, staticDir, loopbackOnly, exportsDir } = options;

  const server = createServer((req, res) => {
    if (!requestAllowed(req, loopbackOnly)) {
      return sendJson(res, 403, failure('Forbidden', 'cross-origin requests are not allowed'));
    }
    const pathname = (req.url ?? '/').split('?')[0];
    const done = pathname.startsWith(API_PREFIX)
      ? handleCall(service, decodeURIComponent(pathname.slice(API_PREFIX.length)), req, res)
      : exportsDir && pathname.startsWith(EXPORTS_PREFIX)
        ? serveExport(exportsDir, req, res)
        : serveStatic(staticDir, req, res);
    done.catch((e: unknown) => {
      if (!res.headersSent) sendJson(res, 500, failure('Error', (e as Error).message));
      else res.destroy();
    });
  });

  // Clients only listen; a tiny maxPayload keeps them from sending anything big.
  const wss = new WebSocketServer({ noServer: true, maxPayload: 4096 });
  server.on('upgrade', (req, socket, head) => {
    const pathname = (req.url ?? '').split('?')[0];
    if (pathname !== HTTP.events || !requestAllowed(req, loopbackOnly)) {
      socket.end('HTTP/1.1 403 Forbidden\r\n\r\n');
      return;
    }
    wss.handleUpgrade(req, socket, head, (ws) => wss.emit('connection', ws, req));
  });

  // Encode once per event, send the same frame to every client.
  const unsubscribe = service.onEvent((event) => {
    if (wss.clients.size === 0) return;
    const frame = encodeEvent(event);
    for (const client of wss.clients) if (client.readyState === WebSocket.OPEN) client.send(frame);
  });

  return {
    server,
    async close() {
      unsubscribe();
      for (const client of wss.clients) client.terminate();
      await new Promise<void>((resolve) => wss.close(() => resolve()));
      const closed = new Promise<void>((resolve) => server.close(() => resolve()));
      server.closeAllConnections();
      await closed;
    },
  };
}
