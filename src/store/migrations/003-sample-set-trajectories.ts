/**
 * Schema 3: a sample set may keep its denoising trajectory, so the sampler lab can reopen a finished one. The arrays
 * live in files (a folder of .npy, `trajectory_path`); the row holds what reading them needs (`trajectory_json`:
 * noise levels, sample shape, samples kept, formulation, engine). Never edit this file once released.
 */
import type { Migration } from '../migrations.ts';

export const m003SampleSetTrajectories: Migration = {
  version: 3,
  name: 'sample-set-trajectories',
  up(db) {
    db.exec(`
      ALTER TABLE sample_sets ADD COLUMN trajectory_path TEXT;
      ALTER TABLE sample_sets ADD COLUMN trajectory_json TEXT
        CHECK (trajectory_json IS NULL OR (json_valid(trajectory_json) AND json_type(trajectory_json) = 'object'));
      -- The lab's list of stored trajectories, newest first.
      CREATE INDEX sample_sets_trajectories ON sample_sets (created_at) WHERE trajectory_path IS NOT NULL;
    `);
  },
};
