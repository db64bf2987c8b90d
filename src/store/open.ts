/**
 * Opening the studio database: identify the file before touching it, refuse what we must not modify, then switch
 * to WAL and migrate. The read-write Store returned here is the one writer (see store.ts).
 */
import Database from 'better-sqlite3';
import { accessSync, constants, existsSync, mkdirSync, statSync } from 'node:fs';
import { dirname, resolve } from 'node:path';
import { APPLICATION_ID, LATEST_SCHEMA_VERSION, migrate } from './migrations.ts';
import { Store } from './store.ts';

export type StoreOpenErrorCode =
  | 'not-a-database' // not SQLite, or another application's SQLite file
  | 'corrupt'
  | 'newer-schema' // written by a newer build: left untouched
  | 'older-schema' // read-only open of a file that still needs migrating
  | 'missing' // read-only open of a file that does not exist
  | 'unwritable'
  | 'migration-failed';

/** An open failure the UI can explain: `code` says which, the message names the file and the problem. */
export class StoreOpenError extends Error {
  override readonly name = 'StoreOpenError';
  constructor(
    readonly code: StoreOpenErrorCode,
    readonly path: string,
    message: string,
    options?: { cause?: unknown },
  ) {
    super(message, options);
  }
}

export interface OpenStoreOptions {
  /** Open an existing, fully migrated database for reading only (e.g. from a worker thread). */
  readonly?: boolean;
  /** How long a statement waits for another connection's lock before failing with SQLITE_BUSY. */
  busyTimeoutMs?: number;
  /** Clock for timestamps; for tests. */
  now?: () => number;
}

const DEFAULT_BUSY_TIMEOUT_MS = 5000;

function sqliteCode(err: unknown): string {
  const code = (err as { code?: unknown } | null)?.code;
  return typeof code === 'string' ? code : '';
}

function messageOf(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}

export function openStore(path: string, options: OpenStoreOptions = {}): Store {
  const file = resolve(path);
  return options.readonly ? openReadonly(file, options) : openWritable(file, options);
}

/** A fresh, fully migrated in-memory database, for tests. */
export function openMemoryStore(options: { now?: () => number } = {}): Store {
  const db = new Database(':memory:');
  db.pragma('foreign_keys = ON');
  migrate(db);
  return new Store(db, { path: ':memory:', readonly: false, now: options.now });
}

function openWritable(file: string, options: OpenStoreOptions): Store {
  const dir = dirname(file);
  try {
    mkdirSync(dir, { recursive: true });
  } catch (err) {
    throw unwritable(file, `cannot create its folder ${dir} (${messageOf(err)})`, err);
  }
  // Checked up front for a clear message: SQLite would silently open a read-only file read-only, and WAL needs to
  // create the -wal and -shm files beside the database.
  const exists = existsSync(file);
  if (exists && statSync(file).isDirectory()) throw unwritable(file, 'the path is a folder');
  try {
    accessSync(dir, constants.W_OK);
    if (exists) accessSync(file, constants.R_OK | constants.W_OK);
  } catch (err) {
    throw unwritable(file, `the location is not writable (${messageOf(err)})`, err);
  }

  let db: Database.Database;
  try {
    db = new Database(file);
  } catch (err) {
    throw unwritable(file, `SQLite cannot open it (${messageOf(err)})`, err);
  }
  try {
    db.pragma(`busy_timeout = ${options.busyTimeoutMs ?? DEFAULT_BUSY_TIMEOUT_MS}`);
    // Only reads until identify() has accepted the file: a newer build's database must stay byte-for-byte intact.
    const version = identify(db, file);
    if (version > LATEST_SCHEMA_VERSION) throw newerSchema(file, version);

    const mode = db.pragma('journal_mode = WAL', { simple: true });
    if (mode !== 'wal') throw unwritable(file, `cannot switch it to WAL mode (journal mode stays '${String(mode)}')`);
    db.pragma('synchronous = NORMAL'); // safe with WAL: a power cut can lose the last commits, never corrupt
    db.pragma('foreign_keys = ON');
    try {
      migrate(db);
    } catch (err) {
      const cause = (err as Error).cause ?? err;
      if (sqliteCode(cause).startsWith('SQLITE_READONLY')) {
        throw unwritable(file, `the database is read-only (${messageOf(cause)})`, err);
      }
      throw new StoreOpenError('migration-failed', file, `Cannot upgrade ${file}: ${messageOf(err)}`, { cause: err });
    }
    return new Store(db, { path: file, readonly: false, now: options.now });
  } catch (err) {
    db.close();
    throw classify(err, file, 'write');
  }
}

function openReadonly(file: string, options: OpenStoreOptions): Store {
  let db: Database.Database;
  try {
    db = new Database(file, { readonly: true, fileMustExist: true });
  } catch (err) {
    if (!existsSync(file)) {
      throw new StoreOpenError('missing', file, `Cannot open ${file} read-only: the file does not exist`, {
        cause: err,
      });
    }
    throw new StoreOpenError('unwritable', file, `Cannot open ${file} read-only: ${messageOf(err)}`, { cause: err });
  }
  try {
    db.pragma(`busy_timeout = ${options.busyTimeoutMs ?? DEFAULT_BUSY_TIMEOUT_MS}`);
    const version = identify(db, file);
    if (version > LATEST_SCHEMA_VERSION) throw newerSchema(file, version);
    if (version < LATEST_SCHEMA_VERSION) {
      throw new StoreOpenError(
        'older-schema',
        file,
        `Cannot open ${file} read-only: it has schema ${version} and this build needs ${LATEST_SCHEMA_VERSION}; ` +
          'open it read-write once to upgrade it',
      );
    }
    return new Store(db, { path: file, readonly: true, now: options.now });
  } catch (err) {
    db.close();
    throw classify(err, file, 'read');
  }
}

/** Reads (never writes) enough to tell whether this is our database; returns its schema version. */
function identify(db: Database.Database, file: string): number {
  const notOurs = (why: string, cause?: unknown) =>
    new StoreOpenError('not-a-database', file, `${file} is not a Diffusion Studio database (${why})`, { cause });
  let version: number;
  let appId: number;
  try {
    version = db.pragma('user_version', { simple: true }) as number;
    appId = db.pragma('application_id', { simple: true }) as number;
  } catch (err) {
    if (sqliteCode(err) === 'SQLITE_NOTADB') throw notOurs(messageOf(err), err);
    throw err;
  }
  if (appId !== 0 && appId !== APPLICATION_ID) {
    throw notOurs(`it belongs to another application: application_id 0x${(appId >>> 0).toString(16)}`);
  }
  if (version === 0) {
    const tables = db.prepare(`SELECT count(*) FROM sqlite_master WHERE name NOT LIKE 'sqlite_%'`).pluck().get();
    if ((tables as number) > 0)
      throw notOurs(`it has ${tables} schema object(s) but no Diffusion Studio schema version`);
  } else if (appId === 0) {
    throw notOurs(`it has schema version ${version} but no Diffusion Studio application id`);
  }
  return version;
}

function newerSchema(file: string, version: number): StoreOpenError {
  return new StoreOpenError(
    'newer-schema',
    file,
    `${file} was created by a newer version of Diffusion Studio: schema ${version}, this build knows up to ` +
      `${LATEST_SCHEMA_VERSION}. Update Diffusion Studio to open it; the file was not modified.`,
  );
}

function unwritable(file: string, why: string, cause?: unknown): StoreOpenError {
  return new StoreOpenError('unwritable', file, `Cannot open ${file} for writing: ${why}`, { cause });
}

/** Turns raw SQLite errors that escaped the steps above into StoreOpenErrors naming the file. */
function classify(err: unknown, file: string, mode: 'read' | 'write'): Error {
  if (err instanceof StoreOpenError) return err;
  const code = sqliteCode(err);
  const cause = { cause: err };
  if (code === 'SQLITE_NOTADB') {
    return new StoreOpenError(
      'not-a-database',
      file,
      `${file} is not a Diffusion Studio database (${messageOf(err)})`,
      cause,
    );
  }
  if (code.startsWith('SQLITE_CORRUPT')) {
    return new StoreOpenError('corrupt', file, `${file} is damaged (${messageOf(err)})`, cause);
  }
  if (mode === 'read' && code === 'SQLITE_READONLY_DIRECTORY') {
    // A WAL database needs its -shm file; with no writer running, a reader must create it beside the database.
    const why =
      'its folder is not writable and no other process has it open (WAL readers need to create its -shm file)';
    return new StoreOpenError('unwritable', file, `Cannot open ${file} read-only: ${why}`, cause);
  }
  if (code.startsWith('SQLITE_READONLY') || code.startsWith('SQLITE_CANTOPEN') || code.startsWith('SQLITE_IOERR')) {
    return mode === 'write'
      ? unwritable(file, messageOf(err), err)
      : new StoreOpenError('unwritable', file, `Cannot open ${file} read-only: ${messageOf(err)}`, cause);
  }
  return new Error(`Cannot open ${file}: ${messageOf(err)}`, cause);
}
