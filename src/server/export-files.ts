/**
 * GET /exports/<name>: the files the user exported (grids, strips, animations, sidecars), read-only, from the one
 * exports folder. Only names matching EXPORT_NAME are served (no separators, no leading dot, so no traversal and no
 * hidden temp files); there is no directory listing, and every file downloads as an attachment.
 */
import { createReadStream } from 'node:fs';
import { lstat } from 'node:fs/promises';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { extname, join } from 'node:path';
import { EXPORT_NAME } from '../service/exports.ts';

export const EXPORTS_PREFIX = '/exports/';

const TYPES: Record<string, string> = {
  '.png': 'image/png',
  '.gif': 'image/gif',
  '.json': 'application/json; charset=utf-8',
  '.npy': 'application/octet-stream',
};

function plain(res: ServerResponse, status: number, text: string, headers: Record<string, string> = {}): void {
  res.writeHead(status, {
    'Content-Type': 'text/plain; charset=utf-8',
    'X-Content-Type-Options': 'nosniff',
    ...headers,
  });
  res.end(text);
}

export async function serveExport(dir: string, req: IncomingMessage, res: ServerResponse): Promise<void> {
  if (req.method !== 'GET' && req.method !== 'HEAD')
    return plain(res, 405, 'exports are read-only', { Allow: 'GET, HEAD' });
  const raw = (req.url ?? '').split('?')[0].slice(EXPORTS_PREFIX.length);
  let name: string;
  try {
    name = decodeURIComponent(raw);
  } catch {
    return plain(res, 400, 'bad export name');
  }
  if (!EXPORT_NAME.test(name)) return plain(res, 404, 'no such export');
  const path = join(dir, name);
  let size: number;
  try {
    // lstat: a symlink planted in the folder is not followed out of it.
    const s = await lstat(path);
    if (!s.isFile()) return plain(res, 404, 'no such export');
    size = s.size;
  } catch {
    return plain(res, 404, 'no such export');
  }
  res.writeHead(200, {
    'Content-Type': TYPES[extname(name).toLowerCase()] ?? 'application/octet-stream',
    'Content-Length': size,
    'Content-Disposition': `attachment; filename="${name}"`,
    'Cache-Control': 'no-store',
    'X-Content-Type-Options': 'nosniff',
  });
  if (req.method === 'HEAD') {
    res.end();
    return;
  }
  createReadStream(path).pipe(res);
}
