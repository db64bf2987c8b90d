/** Every SQL statement of the repository, prepared once per connection. Snake_case rows; store.ts converts them. */
import type Database from 'better-sqlite3';

/** Statuses a dead process can leave behind: their in-memory state is gone, so they can only resume from a checkpoint. */
const LIVE_RUN_STATUSES = "('running', 'paused')";

export function prepareStatements(db: Database.Database) {
  const p = (sql: string) => db.prepare(sql);
  const runSummary = `SELECT r.*, (SELECT count(*) FROM checkpoints c WHERE c.run_id = r.id) AS checkpoint_count FROM runs r`;
  return {
    insertRun: p(`INSERT INTO runs (id, name, kind, status, config_json, dataset, preset, engine, created_at,
      updated_at, parent_run_id, parent_checkpoint_id, notes)
      VALUES (@id, @name, @kind, @status, @config_json, @dataset, @preset, @engine, @now, @now, @parent_run_id,
      @parent_checkpoint_id, @notes)`),
    getRun: p(`SELECT * FROM runs WHERE id = ?`),
    listRuns: p(`${runSummary} WHERE (@kind IS NULL OR r.kind = @kind) AND (@status IS NULL OR r.status = @status)
      ORDER BY r.pinned DESC, r.created_at DESC, r.id DESC`),
    setRunStatus: p(`UPDATE runs SET status = ?, error = ?, updated_at = ? WHERE id = ?`),
    setRunProgress: p(`UPDATE runs SET last_step = ?, last_loss = ?, updated_at = ? WHERE id = ?`),
    setRunName: p(`UPDATE runs SET name = ?, updated_at = ? WHERE id = ?`),
    setRunEngine: p(`UPDATE runs SET engine = ?, updated_at = ? WHERE id = ?`),
    setRunConfig: p(`UPDATE runs SET config_json = ?, updated_at = ? WHERE id = ?`),
    setRunNotes: p(`UPDATE runs SET notes = ?, updated_at = ? WHERE id = ?`),
    setRunPinned: p(`UPDATE runs SET pinned = ?, updated_at = ? WHERE id = ?`),
    deleteRun: p(`DELETE FROM runs WHERE id = ?`),
    runCheckpointPaths: p(`SELECT path FROM checkpoints WHERE run_id = ?`).pluck(),
    runSampleSetPaths: p(`SELECT path FROM sample_sets WHERE run_id = ?`).pluck(),
    runTrajectoryPaths: p(
      `SELECT trajectory_path FROM sample_sets WHERE run_id = ? AND trajectory_path IS NOT NULL`,
    ).pluck(),
    liveRunIds: p(`SELECT id FROM runs WHERE status IN ${LIVE_RUN_STATUSES}`).pluck(),
    interruptRuns: p(`UPDATE runs SET status = 'interrupted', updated_at = ? WHERE status IN ${LIVE_RUN_STATUSES}`),

    insertCheckpoint: p(`INSERT INTO checkpoints (id, run_id, step, path, sha256, bytes, pinned, created_at,
      metrics_json) VALUES (@id, @run_id, @step, @path, @sha256, @bytes, @pinned, @now, @metrics_json)`),
    getCheckpoint: p(`SELECT * FROM checkpoints WHERE id = ?`),
    listCheckpoints: p(`SELECT * FROM checkpoints WHERE run_id = ? ORDER BY step`),
    setCheckpointPinned: p(`UPDATE checkpoints SET pinned = ? WHERE id = ?`),
    deleteCheckpoint: p(`DELETE FROM checkpoints WHERE id = ?`),
    // Prunable: not pinned, not among the newest K by step, and not the origin of a fork (pruning it would erase
    // the fork's provenance through ON DELETE SET NULL).
    checkpointsToPrune: p(`SELECT * FROM checkpoints c WHERE c.run_id = @run_id AND c.pinned = 0
      AND c.id NOT IN (SELECT id FROM checkpoints WHERE run_id = @run_id ORDER BY step DESC LIMIT @keep)
      AND NOT EXISTS (SELECT 1 FROM runs f WHERE f.parent_checkpoint_id = c.id)
      ORDER BY c.step`),

    upsertMetric: p(`INSERT INTO metrics (run_id, step, name, value, wall_time) VALUES (?, ?, ?, ?, ?)
      ON CONFLICT (run_id, name, step) DO UPDATE SET value = excluded.value, wall_time = excluded.wall_time`),
    metrics: p(`SELECT step, value, wall_time FROM metrics WHERE run_id = ? AND name = ? AND step > ? AND step <= ?
      ORDER BY step`).raw(),
    metricNames: p(`SELECT DISTINCT name FROM metrics WHERE run_id = ? ORDER BY name`).pluck(),

    insertSampleSet: p(`INSERT INTO sample_sets (id, run_id, checkpoint_id, model_json, sampler, steps, options_json,
      seed, n, path, created_at, trajectory_path, trajectory_json) VALUES (@id, @run_id, @checkpoint_id, @model_json,
      @sampler, @steps, @options_json, @seed, @n, @path, @now, @trajectory_path, @trajectory_json)`),
    getSampleSet: p(`SELECT * FROM sample_sets WHERE id = ?`),
    listSampleSets: p(`SELECT * FROM sample_sets WHERE (@run_id IS NULL OR run_id = @run_id)
      AND (@checkpoint_id IS NULL OR checkpoint_id = @checkpoint_id)
      AND (@trajectory = 0 OR trajectory_path IS NOT NULL) ORDER BY created_at DESC, id DESC`),
    deleteSampleSet: p(`DELETE FROM sample_sets WHERE id = ?`),

    insertComparison: p(`INSERT INTO comparisons (id, name, spec_json, status, created_at, updated_at)
      VALUES (@id, @name, @spec_json, @status, @now, @now)`),
    getComparison: p(`SELECT * FROM comparisons WHERE id = ?`),
    listComparisons: p(`SELECT * FROM comparisons ORDER BY created_at DESC, id DESC`),
    updateComparison: p(`UPDATE comparisons SET name = coalesce(@name, name), status = coalesce(@status, status),
      result_json = CASE WHEN @set_result THEN @result_json ELSE result_json END, updated_at = @now WHERE id = @id`),
    deleteComparison: p(`DELETE FROM comparisons WHERE id = ?`),
    liveComparisonIds: p(`SELECT id FROM comparisons WHERE status = 'running'`).pluck(),
    interruptComparisons: p(`UPDATE comparisons SET status = 'interrupted', updated_at = ? WHERE status = 'running'`),
  };
}

export type Statements = ReturnType<typeof prepareStatements>;
