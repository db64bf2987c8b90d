/**
 * Checkpoint files on disk. Writes are atomic and durable: a temp file in the same directory, fsync, rename over the
 * final name, fsync the directory. A reader (or a crash, or a full disk) sees the old file or the new one, never
 * half of one. Reads verify the whole-file SHA-256 when the caller knows it (the store row), and always the
 * embedded payload checksum and the structure.
 */
import { randomBytes } from 'node:crypto';
import * as nodeFs from 'node:fs/promises';
import { basename, dirname, join } from 'node:path';
import {
  CheckpointFormatError,
  decodeTrainingState,
  encodeTrainingState,
  sha256Hex,
  type TrainingState,
} from './state.ts';

/** The slice of a file handle the writer uses. */
export interface CheckpointFileHandle {
  write(buffer: Uint8Array, offset: number, length: number, position: number): Promise<{ bytesWritten: number }>;
  sync(): Promise<void>;
  close(): Promise<void>;
}

/** The file operations checkpoint I/O needs; node:fs/promises by default, injectable to simulate failures. */
export interface CheckpointFs {
  open(path: string, flags: string): Promise<CheckpointFileHandle>;
  rename(from: string, to: string): Promise<void>;
  unlink(path: string): Promise<void>;
  readFile(path: string): Promise<Uint8Array>;
}

export interface CheckpointIoOptions {
  fs?: CheckpointFs;
}

export interface WrittenCheckpoint {
  path: string;
  /** SHA-256 of the whole file, lowercase hex. */
  sha256: string;
  bytes: number;
}

/** The file exists but is damaged or not a checkpoint; the message names the path and the problem. */
export class CorruptCheckpointError extends Error {
  override readonly name = 'CorruptCheckpointError';
  constructor(
    readonly path: string,
    readonly problem: string,
  ) {
    super(`checkpoint ${path} is corrupt: ${problem}`);
  }
}

/** The file a store row points to is gone. */
export class MissingCheckpointError extends Error {
  override readonly name = 'MissingCheckpointError';
  constructor(
    readonly path: string,
    options?: { cause?: unknown },
  ) {
    super(`checkpoint ${path} is missing: no such file (ENOENT)`, options);
  }
}

const FS_ERRORS: Record<string, string> = {
  ENOSPC: 'no space left on device',
  EDQUOT: 'disk quota exceeded',
  EACCES: 'permission denied',
  EPERM: 'operation not permitted',
  EROFS: 'read-only file system',
  ENOENT: 'no such file or directory',
  ENOTDIR: 'a path component is not a directory',
  EISDIR: 'the path is a directory',
  EIO: 'input/output error',
  EMFILE: 'too many open files',
  EFBIG: 'file too large',
};

/** "no space left on device (ENOSPC)", or the error's own message for codes we have no words for. */
export function describeFsError(err: unknown): string {
  const code = (err as { code?: unknown } | null)?.code;
  if (typeof code === 'string' && FS_ERRORS[code]) return `${FS_ERRORS[code]} (${code})`;
  return err instanceof Error ? err.message : String(err);
}

const isNotFound = (err: unknown) => (err as { code?: unknown } | null)?.code === 'ENOENT';

/** Writes bytes atomically and durably; on failure the temp file is removed and any existing file is untouched. */
export async function writeCheckpointBytes(
  path: string,
  bytes: Uint8Array,
  options: CheckpointIoOptions = {},
): Promise<WrittenCheckpoint> {
  const fs: CheckpointFs = options.fs ?? nodeFs;
  const dir = dirname(path);
  const tmp = join(dir, `.${basename(path)}.${process.pid}.${randomBytes(6).toString('hex')}.tmp`);
  let created = false;
  try {
    const fh = await fs.open(tmp, 'wx');
    created = true;
    try {
      for (let done = 0; done < bytes.length;) {
        const { bytesWritten } = await fh.write(bytes, done, bytes.length - done, done);
        if (bytesWritten <= 0) throw Object.assign(new Error('short write'), { code: 'EIO' });
        done += bytesWritten;
      }
      await fh.sync();
    } catch (err) {
      await fh.close().catch(() => {}); // the write error is the one to report
      throw err;
    }
    await fh.close(); // checked: some file systems report deferred write errors here
    await fs.rename(tmp, path);
    created = false;
  } catch (err) {
    if (created) await fs.unlink(tmp).catch(() => {});
    throw new Error(`cannot write checkpoint ${path}: ${describeFsError(err)}`, { cause: err });
  }
  await syncDirectory(fs, dir);
  return { path, sha256: sha256Hex(bytes), bytes: bytes.length };
}

/** Persists a rename. Directories cannot be opened for fsync on Windows (and some file systems): best effort. */
async function syncDirectory(fs: CheckpointFs, dir: string): Promise<void> {
  let dh: CheckpointFileHandle | undefined;
  try {
    dh = await fs.open(dir, 'r');
    await dh.sync();
  } catch {
    /* not supported here; the rename is still atomic */
  } finally {
    await dh?.close().catch(() => {});
  }
}

export async function writeCheckpoint(
  path: string,
  state: TrainingState,
  options: CheckpointIoOptions = {},
): Promise<WrittenCheckpoint> {
  return writeCheckpointBytes(path, encodeTrainingState(state), options);
}

/**
 * Reads and fully verifies a checkpoint, returning its bytes too (a fork copies exactly what was verified).
 * Throws MissingCheckpointError, CorruptCheckpointError, or an Error naming the path for anything else (a newer
 * format, an unreadable file).
 */
export async function readCheckpointFile(
  path: string,
  expectedSha256?: string,
  options: CheckpointIoOptions = {},
): Promise<{ bytes: Uint8Array; sha256: string; state: TrainingState }> {
  const fs: CheckpointFs = options.fs ?? nodeFs;
  let bytes: Uint8Array;
  try {
    bytes = await fs.readFile(path);
  } catch (err) {
    if (isNotFound(err)) throw new MissingCheckpointError(path, { cause: err });
    throw new Error(`cannot read checkpoint ${path}: ${describeFsError(err)}`, { cause: err });
  }
  const sha256 = sha256Hex(bytes);
  if (expectedSha256 !== undefined && sha256 !== expectedSha256.toLowerCase()) {
    throw new CorruptCheckpointError(
      path,
      `file checksum mismatch (expected sha256 ${expectedSha256.toLowerCase()}, the ${bytes.length}-byte file ` +
        `hashes to ${sha256})`,
    );
  }
  try {
    return { bytes, sha256, state: decodeTrainingState(bytes) };
  } catch (err) {
    if (err instanceof CheckpointFormatError && err.unsupported) {
      throw new Error(`cannot read checkpoint ${path}: ${err.message}`, { cause: err });
    }
    if (err instanceof CheckpointFormatError) throw new CorruptCheckpointError(path, err.message);
    throw err;
  }
}

export async function readCheckpoint(
  path: string,
  expectedSha256?: string,
  options: CheckpointIoOptions = {},
): Promise<TrainingState> {
  return (await readCheckpointFile(path, expectedSha256, options)).state;
}
