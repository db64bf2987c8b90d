import Database from 'better-sqlite3';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import {
  APPLICATION_ID,
  LATEST_SCHEMA_VERSION,
  MIGRATIONS,
  checkMigrations,
  migrate,
  type Migration,
} from '../../src/store/migrations.ts';
import { StoreOpenError, openStore } from '../../src/store/open.ts';
import type { Store } from '../../src/store/store.ts';

let dir: string;
beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), 'ds-store-mig-'));
});
afterEach(() => {
  rmSync(dir, { recursive: true, force: true });
});

const raw = (file: string) => new Database(file);
const userVersion = (db: Database.Database) => db.pragma('user_version', { simple: true }) as number;
const tableNames = (db: Database.Database) =>
  db
    .prepare(`SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%' ORDER BY name`)
    .pluck()
    .all() as string[];
const columns = (db: Database.Database, table: string) =>
  (db.pragma(`table_info(${table})`) as { name: string }[]).map((c) => c.name);
const indexes = (db: Database.Database) =>
  db
    .prepare(`SELECT name FROM sqlite_master WHERE type = 'index' AND name NOT LIKE 'sqlite_%' ORDER BY name`)
    .pluck()
    .all() as string[];
const indexColumns = (db: Database.Database, index: string) =>
  (db.pragma(`index_info(${index})`) as { name: string }[]).map((c) => c.name);
const rowCounts = (db: Database.Database) =>
  Object.fromEntries(tableNames(db).map((t) => [t, db.prepare(`SELECT count(*) FROM ${t}`).pluck().get() as number]));

const SHA = 'ab'.repeat(32);

describe('migration list', () => {
  it('is numbered contiguously from 1 and the latest version is its length', () => {
    expect(MIGRATIONS.map((m) => m.version)).toEqual(MIGRATIONS.map((_, i) => i + 1));
    expect(LATEST_SCHEMA_VERSION).toBe(MIGRATIONS.length);
    expect(LATEST_SCHEMA_VERSION).toBeGreaterThanOrEqual(2);
  });

  it('rejects gaps and duplicate names', () => {
    const up = () => {};
    expect(() =>
      checkMigrations([
        { version: 1, name: 'a', up },
        { version: 3, name: 'b', up },
      ]),
    ).toThrow(/not contiguous: position 2 holds version 3/);
    expect(() =>
      checkMigrations([
        { version: 1, name: 'a', up },
        { version: 2, name: 'a', up },
      ]),
    ).toThrow(/'a' is used twice/);
  });
});

describe('from an empty database to the latest schema', () => {
  it('creates the expected tables, columns and indexes, in WAL mode, tagged as ours', () => {
    const file = join(dir, 'nested', 'folder', 'studio.db');
    const store = openStore(file);
    expect(store.schemaVersion).toBe(MIGRATIONS.length);
    const db = raw(file); // a second connection while the writer is open: fine under WAL
    try {
      expect(userVersion(db)).toBe(MIGRATIONS.length);
      expect(db.pragma('application_id', { simple: true })).toBe(APPLICATION_ID);
      expect(db.pragma('journal_mode', { simple: true })).toBe('wal');
      expect(statSync(`${file}-wal`).isFile()).toBe(true);
      expect(tableNames(db)).toEqual(['checkpoints', 'comparisons', 'metrics', 'runs', 'sample_sets']);
      expect(columns(db, 'runs')).toEqual([
        'id',
        'name',
        'kind',
        'status',
        'config_json',
        'dataset',
        'preset',
        'engine',
        'created_at',
        'updated_at',
        'last_step',
        'last_loss',
        'error',
        'parent_run_id',
        'parent_checkpoint_id',
        'notes',
        'pinned',
      ]);
      expect(columns(db, 'checkpoints')).toEqual([
        'id',
        'run_id',
        'step',
        'path',
        'sha256',
        'bytes',
        'pinned',
        'created_at',
        'metrics_json',
      ]);
      expect(columns(db, 'metrics')).toEqual(['run_id', 'step', 'name', 'value', 'wall_time']);
      expect(columns(db, 'sample_sets')).toEqual([
        'id',
        'run_id',
        'checkpoint_id',
        'model_json',
        'sampler',
        'steps',
        'options_json',
        'seed',
        'n',
        'path',
        'created_at',
        'trajectory_path',
        'trajectory_json',
      ]);
      expect(columns(db, 'comparisons')).toEqual([
        'id',
        'name',
        'spec_json',
        'status',
        'result_json',
        'created_at',
        'updated_at',
      ]);
      expect(indexes(db)).toEqual([
        'runs_list_order',
        'runs_parent_checkpoint',
        'runs_parent_run',
        'sample_sets_checkpoint',
        'sample_sets_run',
        'sample_sets_trajectories',
      ]);
      expect(indexColumns(db, 'runs_list_order')).toEqual(['pinned', 'created_at']);
      // metrics is WITHOUT ROWID: its primary key is the (run_id, name, step) index.
      const pk = (
        db.pragma('index_list(metrics)') as {
          name: string;
          origin: string;
          unique: number;
        }[]
      ).find((i) => i.origin === 'pk')!;
      expect(pk.unique).toBe(1);
      expect(indexColumns(db, pk.name)).toEqual(['run_id', 'name', 'step']);
      const plan = db
        .prepare(`EXPLAIN QUERY PLAN SELECT step, value FROM metrics WHERE run_id = 'r' AND name = 'loss' AND step > 5`)
        .all() as { detail: string }[];
      expect(plan.map((p) => p.detail).join(' ')).toMatch(
        /SEARCH metrics USING PRIMARY KEY \(run_id=\? AND name=\? AND step>\?\)/,
      );
      // (run_id, step) is unique for checkpoints.
      const unique = (
        db.pragma('index_list(checkpoints)') as {
          name: string;
          origin: string;
        }[]
      ).find((i) => i.origin === 'u')!;
      expect(indexColumns(db, unique.name)).toEqual(['run_id', 'step']);
      const fks = db.pragma('foreign_key_list(checkpoints)') as {
        table: string;
        on_delete: string;
      }[];
      expect(fks).toEqual([expect.objectContaining({ table: 'runs', on_delete: 'CASCADE' })]);
      expect(db.prepare(`PRAGMA foreign_key_check`).all()).toEqual([]);
    } finally {
      db.close();
      store.close();
    }
  });

  it('opens an already migrated database again without changes', () => {
    const file = join(dir, 'studio.db');
    openStore(file).close();
    const store = openStore(file);
    expect(store.schemaVersion).toBe(LATEST_SCHEMA_VERSION);
    store.close();
  });
});

/**
 * Representative rows written with the raw SQL of each older schema version. Adding migration N+1 requires a
 * fixture for version N here (the test below fails until there is one).
 */
const FIXTURES: Record<number, { insert(db: Database.Database): void; check(store: Store): void }> = {
  1: {
    insert(db) {
      db.exec(`
        INSERT INTO runs (id, name, kind, status, config_json, dataset, preset, engine, created_at, updated_at,
          last_step, last_loss) VALUES
          ('r1', 'fashion base', 'train', 'completed', '{"lr":0.0002,"channels":[32,64]}', 'fashion-mnist',
           'tiny', 'tfjs-wasm', 1000, 2000, 300, 0.125),
          ('r0', 'mixture', 'analytic', 'created', '{"components":2}', NULL, NULL, NULL, 500, 500, 0, NULL);
        INSERT INTO checkpoints (id, run_id, step, path, sha256, bytes, pinned, created_at, metrics_json) VALUES
          ('c1', 'r1', 100, '/w/r1/100.safetensors', '${SHA}', 4096, 0, 1100, NULL),
          ('c2', 'r1', 200, '/w/r1/200.safetensors', '${SHA}', 4096, 1, 1200, '{"fid":31.5}'),
          ('c3', 'r1', 300, '/w/r1/300.safetensors', '${SHA}', 4096, 0, 1300, NULL);
        INSERT INTO runs (id, name, kind, status, config_json, created_at, updated_at, parent_run_id,
          parent_checkpoint_id) VALUES ('r2', 'fork', 'train', 'running', '{"lr":0.0001}', 3000, 3000, 'r1', 'c2');
        INSERT INTO metrics (run_id, step, name, value, wall_time) VALUES
          ('r1', 1, 'loss', 0.9, 1001), ('r1', 2, 'loss', 0.5, 1002), ('r1', 3, 'loss', NULL, 1003),
          ('r1', 2, 'lr', 0.0002, 1002);
        INSERT INTO sample_sets (id, run_id, checkpoint_id, model_json, sampler, steps, options_json, seed, n, path,
          created_at) VALUES
          ('s1', 'r1', 'c2', '{"run":"r1","checkpoint":"c2"}', 'euler', 20, '{"eta":0}', 42, 64, '/s/s1.npy', 1500),
          ('s0', NULL, NULL, '{"mixture":{"means":[[0,0]]}}', 'heun', 10, '{}', 7, 16, '/s/s0.npy', 600);
        INSERT INTO comparisons (id, name, spec_json, status, result_json, created_at, updated_at) VALUES
          ('x1', 'euler vs heun', '{"samplers":["euler","heun"],"steps":[10,20]}', 'completed', '{"mse":[0.1,0.2]}',
           1600, 1700);
      `);
    },
    check(store) {
      const r1 = store.getRun('r1')!;
      expect(r1).toMatchObject({
        name: 'fashion base',
        kind: 'train',
        status: 'completed',
        config: { lr: 0.0002, channels: [32, 64] },
        dataset: 'fashion-mnist',
        engine: 'tfjs-wasm',
        createdAt: 1000,
        lastStep: 300,
        lastLoss: 0.125,
        notes: '',
        pinned: false,
      });
      expect(store.getRun('r2')).toMatchObject({
        parentRunId: 'r1',
        parentCheckpointId: 'c2',
        status: 'running',
      });
      const summaries = store.listRuns();
      expect(summaries.map((r) => [r.id, r.checkpointCount])).toEqual([
        ['r2', 0],
        ['r1', 3],
        ['r0', 0],
      ]);
      expect(store.listCheckpoints('r1').map((c) => [c.step, c.pinned])).toEqual([
        [100, false],
        [200, true],
        [300, false],
      ]);
      expect(store.getCheckpoint('c2')!.metrics).toEqual({ fid: 31.5 });
      const loss = store.metrics('r1', 'loss');
      expect(loss.map((p) => p.step)).toEqual([1, 2, 3]);
      expect(loss[2].value).toBeNaN();
      expect(store.metricNames('r1')).toEqual(['loss', 'lr']);
      expect(store.getSampleSet('s0')).toMatchObject({
        runId: null,
        model: { mixture: { means: [[0, 0]] } },
        n: 16,
      });
      expect(store.listSampleSets({ runId: 'r1' }).map((s) => s.id)).toEqual(['s1']);
      expect(store.getComparison('x1')).toMatchObject({
        status: 'completed',
        result: { mse: [0.1, 0.2] },
      });
      // The migrated database accepts the new columns.
      expect(store.pinRun('r0').pinned).toBe(true);
      expect(store.setRunNotes('r0', 'baseline').notes).toBe('baseline');
      expect(store.getSampleSet('s1')).toMatchObject({ trajectoryPath: null, trajectory: null });
    },
  },
  2: {
    insert(db) {
      db.exec(`
        INSERT INTO runs (id, name, kind, status, config_json, created_at, updated_at, notes, pinned) VALUES
          ('r1', 'noted', 'train', 'completed', '{"lr":0.001}', 1000, 2000, 'keep this one', 1);
        INSERT INTO checkpoints (id, run_id, step, path, sha256, bytes, pinned, created_at) VALUES
          ('c1', 'r1', 100, '/w/r1/100.safetensors', '${SHA}', 4096, 0, 1100);
        INSERT INTO sample_sets (id, run_id, checkpoint_id, model_json, sampler, steps, options_json, seed, n, path,
          created_at) VALUES
          ('s1', 'r1', 'c1', '{"run":"r1","checkpoint":"c1"}', 'ddim', 25, '{"eta":0.5}', 3, 8, '/s/s1.npy', 1500);
      `);
    },
    check(store) {
      expect(store.getRun('r1')).toMatchObject({ notes: 'keep this one', pinned: true });
      expect(store.getSampleSet('s1')).toMatchObject({
        runId: 'r1',
        checkpointId: 'c1',
        options: { eta: 0.5 },
        trajectoryPath: null,
        trajectory: null,
      });
      expect(store.listSampleSets({ withTrajectory: true })).toEqual([]);
      // The migrated database accepts a trajectory.
      const kept = store.createSampleSet({
        runId: 'r1',
        model: { run: 'r1' },
        sampler: 'euler',
        steps: 4,
        seed: 0,
        n: 2,
        path: '/s/s2.npy',
        trajectoryPath: '/s/s2.trajectory',
        trajectory: { sigmas: [2, 1, 0], shape: [2], count: 2 },
      });
      expect(store.listSampleSets({ withTrajectory: true }).map((s) => s.id)).toEqual([kept.id]);
      expect(store.getSampleSet(kept.id)).toMatchObject({
        trajectoryPath: '/s/s2.trajectory',
        trajectory: { sigmas: [2, 1, 0], shape: [2], count: 2 },
      });
    },
  },
};

describe('from every earlier schema version to the latest', () => {
  it('has a row fixture for every earlier version', () => {
    for (let k = 1; k < LATEST_SCHEMA_VERSION; k++) expect(FIXTURES[k], `fixture for schema ${k}`).toBeDefined();
  });

  for (let k = 1; k < LATEST_SCHEMA_VERSION; k++) {
    it(`upgrades a schema-${k} database and keeps its rows`, () => {
      const file = join(dir, `v${k}.db`);
      const db = raw(file);
      db.pragma('journal_mode = WAL');
      db.pragma('foreign_keys = ON');
      expect(migrate(db, k)).toMatchObject({ from: 0, to: k });
      expect(userVersion(db)).toBe(k);
      FIXTURES[k].insert(db);
      const before = rowCounts(db);
      db.close();

      const store = openStore(file);
      try {
        expect(store.schemaVersion).toBe(LATEST_SCHEMA_VERSION);
        const check = raw(file);
        expect(rowCounts(check)).toEqual(before);
        expect(check.prepare('PRAGMA foreign_key_check').all()).toEqual([]);
        check.close();
        FIXTURES[k].check(store);
      } finally {
        store.close();
      }
    });
  }

  it('migrates step by step to the same schema as a fresh database', () => {
    const stepwise = raw(join(dir, 'stepwise.db'));
    for (let k = 1; k <= LATEST_SCHEMA_VERSION; k++) migrate(stepwise, k);
    const fresh = raw(join(dir, 'fresh.db'));
    migrate(fresh);
    const schema = (db: Database.Database) =>
      db.prepare(`SELECT type, name, sql FROM sqlite_master ORDER BY name`).all();
    expect(schema(stepwise)).toEqual(schema(fresh));
    stepwise.close();
    fresh.close();
  });

  it('refuses to migrate down or past the known versions', () => {
    const db = new Database(':memory:');
    migrate(db);
    expect(() => migrate(db, 1)).toThrow(`Cannot migrate down from schema ${LATEST_SCHEMA_VERSION} to 1`);
    expect(() => migrate(db, LATEST_SCHEMA_VERSION + 1)).toThrow(`known versions are 0..${LATEST_SCHEMA_VERSION}`);
    db.close();
  });
});

describe('a failing migration', () => {
  const broken: Migration = {
    version: 2,
    name: 'broken',
    up(db) {
      db.exec(`CREATE TABLE half_done (x INTEGER); ALTER TABLE runs ADD COLUMN tags TEXT;`);
      db.exec(`INSERT INTO no_such_table VALUES (1)`);
    },
  };

  it('rolls back: version, tables and data stay as they were', () => {
    const file = join(dir, 'broken.db');
    const db = raw(file);
    db.pragma('journal_mode = WAL');
    db.pragma('foreign_keys = ON');
    migrate(db, 1);
    db.exec(`INSERT INTO runs (id, name, kind, config_json, created_at, updated_at)
      VALUES ('r1', 'kept', 'train', '{}', 1, 1)`);
    const schemaBefore = db.prepare('SELECT sql FROM sqlite_master').pluck().all();

    expect(() => migrate(db, undefined, [MIGRATIONS[0], broken])).toThrow(
      /Migration 2 \(broken\) failed and was rolled back: no such table: no_such_table/,
    );
    expect(userVersion(db)).toBe(1);
    expect(tableNames(db)).not.toContain('half_done');
    expect(columns(db, 'runs')).not.toContain('tags');
    expect(db.prepare('SELECT sql FROM sqlite_master').pluck().all()).toEqual(schemaBefore);
    expect(db.prepare('SELECT name FROM runs').pluck().all()).toEqual(['kept']);
    expect(db.inTransaction).toBe(false);
    expect(db.pragma('foreign_keys', { simple: true })).toBe(1); // restored after the failure
    db.close();

    // The real migrations still apply afterwards.
    const store = openStore(file);
    expect(store.schemaVersion).toBe(LATEST_SCHEMA_VERSION);
    expect(store.getRun('r1')!.name).toBe('kept');
    store.close();
  });

  it('keeps the earlier migrations of the same call that succeeded', () => {
    const db = new Database(':memory:');
    expect(() => migrate(db, undefined, [MIGRATIONS[0], broken])).toThrow(/Migration 2/);
    expect(userVersion(db)).toBe(1);
    expect(tableNames(db)).toContain('runs');
    db.close();
  });

  it('rolls back a migration that leaves foreign-key violations', () => {
    const db = new Database(':memory:');
    db.pragma('foreign_keys = ON');
    migrate(db, 1);
    const orphaning: Migration = {
      version: 2,
      name: 'orphaning',
      up(d) {
        d.exec(`INSERT INTO checkpoints (id, run_id, step, path, sha256, bytes, created_at)
          VALUES ('c', 'missing-run', 1, '/p', '${SHA}', 1, 1)`);
      },
    };
    expect(() => migrate(db, undefined, [MIGRATIONS[0], orphaning])).toThrow(/1 foreign-key violation/);
    expect(userVersion(db)).toBe(1);
    expect(db.prepare('SELECT count(*) FROM checkpoints').pluck().get()).toBe(0);
    db.close();
  });
});

describe('files openStore must refuse', () => {
  const snapshot = (file: string) => ({
    bytes: readFileSync(file),
    mtimeMs: statSync(file).mtimeMs,
  });

  it('refuses a database from a newer build and leaves it unmodified', () => {
    const file = join(dir, 'newer.db');
    openStore(file).close();
    const db = raw(file);
    db.pragma(`user_version = ${LATEST_SCHEMA_VERSION + 1}`);
    // Rollback-journal mode, so that switching it to WAL (a header write) would show in the bytes.
    db.pragma('journal_mode = DELETE');
    db.close();
    const before = snapshot(file);

    let error: unknown;
    try {
      openStore(file);
    } catch (err) {
      error = err;
    }
    expect(error).toBeInstanceOf(StoreOpenError);
    expect((error as StoreOpenError).code).toBe('newer-schema');
    expect((error as Error).message).toBe(
      `${file} was created by a newer version of Diffusion Studio: schema ${LATEST_SCHEMA_VERSION + 1}, this build ` +
        `knows up to ${LATEST_SCHEMA_VERSION}. Update Diffusion Studio to open it; the file was not modified.`,
    );
    expect(() => openStore(file, { readonly: true })).toThrow(/created by a newer version of Diffusion Studio/);
    const after = snapshot(file);
    expect(after.bytes.equals(before.bytes)).toBe(true);
    expect(after.mtimeMs).toBe(before.mtimeMs);

    const direct = raw(file);
    expect(() => migrate(direct)).toThrow(
      `schema ${LATEST_SCHEMA_VERSION + 1} is newer than this build knows (up to ${LATEST_SCHEMA_VERSION})`,
    );
    direct.close();
  });

  it('refuses a file that is not a SQLite database, without touching it', () => {
    const file = join(dir, 'random.db');
    writeFileSync(file, randomBytes(8192));
    const before = snapshot(file);
    expect(() => openStore(file)).toThrow(`${file} is not a Diffusion Studio database (file is not a database)`);
    expect(() => openStore(file, { readonly: true })).toThrow(/is not a Diffusion Studio database/);
    expect(snapshot(file).bytes.equals(before.bytes)).toBe(true);
  });

  it("refuses another application's SQLite database", () => {
    const file = join(dir, 'other.db');
    const other = raw(file);
    other.exec('CREATE TABLE contacts (name TEXT)');
    other.close();
    expect(() => openStore(file)).toThrow(
      /is not a Diffusion Studio database \(it has 1 schema object\(s\) but no Diffusion Studio schema version\)/,
    );
    const tagged = raw(file);
    tagged.pragma('application_id = 1234');
    tagged.close();
    expect(() => openStore(file)).toThrow(/belongs to another application: application_id 0x4d2/);
  });

  it('reports an unwritable location', () => {
    const blocker = join(dir, 'a-file');
    writeFileSync(blocker, 'not a folder');
    const file = join(blocker, 'studio.db');
    expect(() => openStore(file)).toThrow(StoreOpenError);
    expect(() => openStore(file)).toThrow(new RegExp(`Cannot open ${file} for writing: cannot create its folder`));
    expect(() => openStore(dir)).toThrow(/for writing: the path is a folder/);
  });

  it.skipIf(process.getuid?.() === 0)('reports a read-only database file', async () => {
    const { chmodSync } = await import('node:fs');
    const file = join(dir, 'ro.db');
    openStore(file).close();
    chmodSync(file, 0o444);
    expect(() => openStore(file)).toThrow(/for writing: the location is not writable/);
  });

  it('read-only opens require an existing, fully migrated database', () => {
    expect(() => openStore(join(dir, 'absent.db'), { readonly: true })).toThrow(/the file does not exist/);
    const file = join(dir, 'old.db');
    const db = raw(file);
    migrate(db, 1);
    db.close();
    expect(() => openStore(file, { readonly: true })).toThrow(
      `has schema 1 and this build needs ${LATEST_SCHEMA_VERSION}; open it read-write once to upgrade it`,
    );
  });
});
