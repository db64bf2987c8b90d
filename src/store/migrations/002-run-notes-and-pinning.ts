/**
 * Schema 2: users annotate runs and pin the ones they care about to the top of the run list. Never edit this file
 * once released; add a new migration instead.
 */
import type { Migration } from '../migrations.ts';

export const m002RunNotesAndPinning: Migration = {
  version: 2,
  name: 'run-notes-and-pinning',
  up(db) {
    db.exec(`
      ALTER TABLE runs ADD COLUMN notes TEXT NOT NULL DEFAULT '';
      ALTER TABLE runs ADD COLUMN pinned INTEGER NOT NULL DEFAULT 0 CHECK (pinned IN (0, 1));
      -- The run list's order: pinned first, newest first.
      CREATE INDEX runs_list_order ON runs (pinned DESC, created_at DESC);
    `);
  },
};
