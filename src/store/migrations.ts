/**
 * Numbered schema migrations. The schema version lives in PRAGMA user_version. Each migration runs in its own
 * IMMEDIATE transaction together with its user_version bump, so a crash or an error mid-migration leaves the
 * database exactly at the previous version: SQLite DDL and the header's user_version are both transactional.
 *
 * Rules for adding one: append a file under migrations/ with the next number, never edit or reorder a released
 * one, and add a row fixture for the previous version to tests/unit/store-migrations.test.ts.
 */
import type Database from 'better-sqlite3';
import { m001Initial } from './migrations/001-initial.ts';
import { m002RunNotesAndPinning } from './migrations/002-run-notes-and-pinning.ts';
import { m003SampleSetTrajectories } from './migrations/003-sample-set-trajectories.ts';

export interface Migration {
  readonly version: number;
  readonly name: string;
  up(db: Database.Database): void;
}

export interface MigrationResult {
  from: number;
  to: number;
  applied: string[];
}

/** PRAGMA application_id of our files ('DStd'): tells our databases apart from other applications' SQLite files. */
export const APPLICATION_ID = 0x44537464;

/** Throws unless the list is numbered 1, 2, 3, ... in order with distinct names. */
export function checkMigrations(list: readonly Migration[]): readonly Migration[] {
  const names = new Set<string>();
  list.forEach((m, i) => {
    if (m.version !== i + 1) {
      throw new Error(`Migration list is not contiguous: position ${i + 1} holds version ${m.version} (${m.name})`);
    }
    if (names.has(m.name)) throw new Error(`Migration name '${m.name}' is used twice`);
    names.add(m.name);
  });
  return list;
}

export const MIGRATIONS: readonly Migration[] = checkMigrations([
  m001Initial,
  m002RunNotesAndPinning,
  m003SampleSetTrajectories,
]);

/** The schema version this build creates and understands. */
export const LATEST_SCHEMA_VERSION = MIGRATIONS.length;

export function schemaVersion(db: Database.Database): number {
  return db.pragma('user_version', { simple: true }) as number;
}

/**
 * Brings db from its current version up to `target` (default: the latest). `migrations` is for tests that inject
 * a broken list. Foreign-key enforcement is off while migrating (SQLite cannot toggle it inside a transaction, and
 * table rebuilds need it off); each migration instead ends with PRAGMA foreign_key_check before it commits.
 */
export function migrate(
  db: Database.Database,
  target?: number,
  migrations: readonly Migration[] = MIGRATIONS,
): MigrationResult {
  checkMigrations(migrations);
  const latest = migrations.length;
  const to = target ?? latest;
  if (!Number.isInteger(to) || to < 0 || to > latest) {
    throw new Error(`Cannot migrate to schema ${to}: known versions are 0..${latest}`);
  }
  const from = schemaVersion(db);
  if (from > latest) {
    throw new Error(`Database schema ${from} is newer than this build knows (up to ${latest})`);
  }
  if (to < from) throw new Error(`Cannot migrate down from schema ${from} to ${to}`);
  const applied: string[] = [];
  if (from === to) return { from, to, applied };
  if (db.inTransaction) throw new Error('migrate() must not be called inside a transaction');

  const foreignKeys = db.pragma('foreign_keys', { simple: true }) === 1;
  if (foreignKeys) db.pragma('foreign_keys = OFF');
  try {
    for (const m of migrations.slice(from, to)) {
      const step = db.transaction(() => {
        // Re-read inside the write lock: another process may have migrated since we looked.
        const current = schemaVersion(db);
        if (current >= m.version) return;
        if (current !== m.version - 1) {
          throw new Error(`expected schema ${m.version - 1} before migration ${m.version}, found ${current}`);
        }
        m.up(db);
        const violations = db.pragma('foreign_key_check') as unknown[];
        if (violations.length > 0) {
          throw new Error(
            `it leaves ${violations.length} foreign-key violation(s), e.g. ${JSON.stringify(violations[0])}`,
          );
        }
        if (m.version === 1) db.pragma(`application_id = ${APPLICATION_ID}`);
        db.pragma(`user_version = ${m.version}`);
        applied.push(`${m.version}-${m.name}`);
      });
      try {
        step.immediate();
      } catch (err) {
        throw new Error(`Migration ${m.version} (${m.name}) failed and was rolled back: ${(err as Error).message}`, {
          cause: err,
        });
      }
    }
  } finally {
    if (foreignKeys) db.pragma('foreign_keys = ON');
  }
  return { from, to, applied };
}
