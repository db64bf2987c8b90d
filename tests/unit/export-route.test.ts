/**
 * GET /exports/<name> on the web host: serves exactly the files in the exports folder, as attachments, and nothing
 * else: no listing, no traversal (raw or percent-encoded), no hidden files, no symlinks out, read-only.
 */
import { mkdtempSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { request } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createStudioHttpServer, type StudioHttpServer } from '../../src/server/http-server.ts';
import { dataPaths } from '../../src/service/data-dir.ts';
import { writeExport } from '../../src/service/exports.ts';
import { StudioService } from '../../src/service/studio-service.ts';
import { tsxWorkerEntry } from '../../src/service/worker-entry.ts';

const worker = (name: string) =>
  tsxWorkerEntry(pathToFileURL(join(import.meta.dirname, `../../src/worker/${name}.worker.ts`)));

let dataDir: string;
let service: StudioService;
let web: StudioHttpServer;
let port: number;

/** A raw GET (no client-side URL normalization, so '..' reaches the server as sent). */
function get(
  path: string,
  method = 'GET',
): Promise<{ status: number; headers: Record<string, unknown>; body: Buffer }> {
  return new Promise((resolve, reject) => {
    const req = request({ host: '127.0.0.1', port, path, method }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () => resolve({ status: res.statusCode!, headers: res.headers, body: Buffer.concat(chunks) }));
    });
    req.on('error', reject);
    req.end();
  });
}

beforeAll(async () => {
  dataDir = mkdtempSync(join(tmpdir(), 'ds-exports-'));
  service = new StudioService({
    host: 'server',
    version: '0.0.0-test',
    dataDir,
    workers: { sample: worker('sample'), train: worker('train') },
  });
  const exportsDir = dataPaths(dataDir).exports;
  const staticDir = join(dataDir, 'web');
  web = createStudioHttpServer({ service, staticDir, loopbackOnly: true, exportsDir });
  await new Promise<void>((resolve) => web.server.listen(0, '127.0.0.1', resolve));
  port = (web.server.address() as AddressInfo).port;
});

afterAll(async () => {
  await web.close();
  await service.close();
  rmSync(dataDir, { recursive: true, force: true });
});

describe('GET /exports/<name>', () => {
  it('serves an exported file as an attachment with its type and exact bytes', async () => {
    const bytes = new Uint8Array([137, 80, 78, 71, 1, 2, 3]);
    const file = await writeExport(dataPaths(dataDir).exports, 'my grid', 'png', bytes);
    expect(file.url).toBe('/exports/my-grid.png');
    const res = await get(file.url);
    expect(res.status).toBe(200);
    expect(res.headers['content-type']).toBe('image/png');
    expect(res.headers['content-disposition']).toBe('attachment; filename="my-grid.png"');
    expect(res.headers['x-content-type-options']).toBe('nosniff');
    expect([...res.body]).toEqual([...bytes]);
    const head = await get(file.url, 'HEAD');
    expect(head.status).toBe(200);
    expect(head.headers['content-length']).toBe(String(bytes.length));
    const json = await writeExport(dataPaths(dataDir).exports, 'my grid', 'png.json', new TextEncoder().encode('{}'));
    expect((await get(json.url)).headers['content-type']).toBe('application/json; charset=utf-8');
  });

  it('refuses listings, traversal, hidden files, symlinks, unknown names and writes', async () => {
    writeFileSync(join(dataDir, 'secret.txt'), 'secret');
    writeFileSync(join(dataPaths(dataDir).exports, '.hidden.png'), 'hidden');
    symlinkSync(join(dataDir, 'secret.txt'), join(dataPaths(dataDir).exports, 'link.png'));
    for (const path of [
      '/exports/',
      '/exports/../secret.txt',
      '/exports/..%2Fsecret.txt',
      '/exports/%2e%2e%2fsecret.txt',
      '/exports/..%5Csecret.txt',
      '/exports/%2e%2e/studio.db',
      '/exports/.hidden.png',
      '/exports/link.png',
      '/exports/missing.png',
      '/exports/a%00b.png',
      '/exports/%E0%A4%A',
    ]) {
      const res = await get(path);
      expect([400, 404], path).toContain(res.status);
      expect(res.body.toString(), path).not.toContain('secret');
      expect(res.body.toString(), path).not.toContain('hidden');
    }
    const post = await get('/exports/my-grid.png', 'POST');
    expect(post.status).toBe(405);
  });
});
