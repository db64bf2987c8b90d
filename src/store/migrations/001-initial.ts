/**
 * Schema 1. Never edit this file once released: databases in the wild were built by exactly this SQL. Change the
 * schema with a new numbered migration instead. For the same reason the value lists in the CHECK constraints are
 * written out here rather than imported from types.ts, which is free to grow.
 *
 * Tables are STRICT (SQLite enforces column types) and JSON columns are checked with json_valid, so a bad write
 * fails at insert instead of surfacing later as a broken screen.
 */
import type { Migration } from '../migrations.ts';

export const m001Initial: Migration = {
  version: 1,
  name: 'initial',
  up(db) {
    db.exec(`
      CREATE TABLE runs (
        id TEXT PRIMARY KEY NOT NULL,
        name TEXT NOT NULL,
        kind TEXT NOT NULL CHECK (kind IN ('train', 'analytic', 'import')),
        status TEXT NOT NULL DEFAULT 'created'
          CHECK (status IN ('created', 'running', 'paused', 'completed', 'failed', 'interrupted', 'cancelled')),
        config_json TEXT NOT NULL CHECK (json_valid(config_json) AND json_type(config_json) = 'object'),
        dataset TEXT,
        preset TEXT,
        engine TEXT,
        created_at INTEGER NOT NULL,
        updated_at INTEGER NOT NULL,
        last_step INTEGER NOT NULL DEFAULT 0 CHECK (last_step >= 0),
        last_loss REAL, -- NULL before the first loss, and for NaN (SQLite stores NaN as NULL)
        error TEXT,
        parent_run_id TEXT REFERENCES runs (id) ON DELETE SET NULL,
        parent_checkpoint_id TEXT REFERENCES checkpoints (id) ON DELETE SET NULL
      ) STRICT;
      CREATE INDEX runs_parent_run ON runs (parent_run_id);
      CREATE INDEX runs_parent_checkpoint ON runs (parent_checkpoint_id);

      CREATE TABLE checkpoints (
        id TEXT PRIMARY KEY NOT NULL,
        run_id TEXT NOT NULL REFERENCES runs (id) ON DELETE CASCADE,
        step INTEGER NOT NULL CHECK (step >= 0),
        path TEXT NOT NULL, -- the weights file; weights never live in the database
        sha256 TEXT NOT NULL CHECK (length(sha256) = 64),
        bytes INTEGER NOT NULL CHECK (bytes >= 0),
        pinned INTEGER NOT NULL DEFAULT 0 CHECK (pinned IN (0, 1)),
        created_at INTEGER NOT NULL,
        metrics_json TEXT CHECK (metrics_json IS NULL OR (json_valid(metrics_json) AND json_type(metrics_json) = 'object')),
        UNIQUE (run_id, step)
      ) STRICT;

      -- The largest table by far. WITHOUT ROWID: the primary key is the (run_id, name, step) index itself, so rows
      -- are stored once, clustered for "this run's loss from step k" scans. A resumed run re-logging a step
      -- overwrites it (upsert) instead of duplicating it. value NULL means NaN.
      CREATE TABLE metrics (
        run_id TEXT NOT NULL REFERENCES runs (id) ON DELETE CASCADE,
        step INTEGER NOT NULL,
        name TEXT NOT NULL,
        value REAL,
        wall_time INTEGER NOT NULL,
        PRIMARY KEY (run_id, name, step)
      ) STRICT, WITHOUT ROWID;

      CREATE TABLE sample_sets (
        id TEXT PRIMARY KEY NOT NULL,
        run_id TEXT REFERENCES runs (id) ON DELETE CASCADE, -- NULL for analytic models
        checkpoint_id TEXT REFERENCES checkpoints (id) ON DELETE SET NULL,
        model_json TEXT NOT NULL CHECK (json_valid(model_json) AND json_type(model_json) = 'object'),
        sampler TEXT NOT NULL,
        steps INTEGER NOT NULL CHECK (steps >= 1),
        options_json TEXT NOT NULL DEFAULT '{}' CHECK (json_valid(options_json) AND json_type(options_json) = 'object'),
        seed INTEGER NOT NULL,
        n INTEGER NOT NULL CHECK (n >= 1),
        path TEXT NOT NULL, -- the arrays file; arrays never live in the database
        created_at INTEGER NOT NULL
      ) STRICT;
      CREATE INDEX sample_sets_run ON sample_sets (run_id, created_at);
      CREATE INDEX sample_sets_checkpoint ON sample_sets (checkpoint_id);

      CREATE TABLE comparisons (
        id TEXT PRIMARY KEY NOT NULL,
        name TEXT NOT NULL,
        spec_json TEXT NOT NULL CHECK (json_valid(spec_json) AND json_type(spec_json) = 'object'),
        status TEXT NOT NULL DEFAULT 'created'
          CHECK (status IN ('created', 'running', 'completed', 'failed', 'interrupted', 'cancelled')),
        result_json TEXT CHECK (result_json IS NULL OR json_valid(result_json)),
        created_at INTEGER NOT NULL,
        updated_at INTEGER NOT NULL
      ) STRICT;
    `);
  },
};
