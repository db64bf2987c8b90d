/**
 * Who may talk to the server. A page on another site must not drive a studio on localhost: requests that carry an
 * Origin must come from the page the server itself serves, and on a loopback bind the Host header must name the
 * loopback too (which defeats DNS rebinding, where evil.example resolves to 127.0.0.1).
 */
import type { IncomingMessage } from 'node:http';

const LOOPBACK_NAMES = new Set(['localhost', '127.0.0.1', '[::1]', '::1']);

export function isLoopbackHost(host: string): boolean {
  return LOOPBACK_NAMES.has(host) || host.startsWith('127.');
}

function hostnameOf(hostHeader: string): string {
  try {
    return new URL(`http://${hostHeader}`).hostname;
  } catch {
    return '';
  }
}

export function requestAllowed(req: IncomingMessage, boundToLoopback: boolean): boolean {
  const host = req.headers.host ?? '';
  if (boundToLoopback && !isLoopbackHost(hostnameOf(host))) return false;
  const origin = req.headers.origin;
  if (origin === undefined) return true;
  try {
    return new URL(origin).host === host;
  } catch {
    return false;
  }
}
