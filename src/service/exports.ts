/**
 * Files the user exports from the studio (grids, trajectory strips, animations, sidecar JSON). They go to one folder
 * under the data directory, under names that are safe in a URL and a file system, never overwriting an earlier
 * export; the web host serves them read-only at /exports/<name> (the Electron app shows the path).
 */
import { existsSync, mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { writeCheckpointBytes } from '../checkpoint/io.ts';

export interface ExportedFile {
  /** File name inside the exports folder. */
  name: string;
  /** Absolute path on the host machine. */
  path: string;
  bytes: number;
  /** Where the web host serves it. */
  url: string;
}

/** Names the exports folder will serve: no separators, no leading dot. */
export const EXPORT_NAME = /^[A-Za-z0-9][A-Za-z0-9._-]{0,199}$/;

/** A readable, unique file name: the base cleaned to [A-Za-z0-9_-], then -2, -3, ... if taken. */
export function exportFileName(dir: string, base: string, ext: string): string {
  const clean =
    base
      .replace(/[^A-Za-z0-9_-]+/g, '-')
      .replace(/^-+|-+$/g, '')
      .slice(0, 120) || 'export';
  for (let k = 1; ; k++) {
    const name = `${clean}${k === 1 ? '' : `-${k}`}.${ext}`;
    if (!existsSync(join(dir, name))) return name;
  }
}

/** Writes one export atomically (temp file, fsync, rename); a full disk leaves nothing behind and says so. */
export async function writeExport(dir: string, base: string, ext: string, bytes: Uint8Array): Promise<ExportedFile> {
  mkdirSync(dir, { recursive: true });
  const name = exportFileName(dir, base, ext);
  const path = join(dir, name);
  try {
    await writeCheckpointBytes(path, bytes);
  } catch (err) {
    throw new Error(
      `cannot write export ${name}: ${(err as Error).message.replace(/^cannot write checkpoint [^:]+: /, '')}`,
      {
        cause: err,
      },
    );
  }
  return { name, path, bytes: bytes.length, url: `/exports/${encodeURIComponent(name)}` };
}
