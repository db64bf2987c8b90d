/**
 * Crash safety of `diffusion-studio train` as a real process: SIGKILL it mid-run (no handler can run), then the
 * database is intact, the run shows as interrupted, and `resume` finishes it, re-logging the steps after its last
 * checkpoint with the very same losses (training resumes exactly).
 */
import { spawn, spawnSync } from 'node:child_process';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import Database from 'better-sqlite3';
import { expect, it } from 'vitest';
import { runCli } from '../../src/cli/main.ts';
import { openStore } from '../../src/store/open.ts';
import { PassThrough } from 'node:stream';

const BIN = fileURLToPath(new URL('../../bin/diffusion-studio.js', import.meta.url));
const STEPS = 250;

/**
 * The only run's newest checkpoint step and newest logged loss step, through a read-only connection (null before
 * there is a checkpoint).
 */
function progress(db: string): { runId: string; checkpoint: number; logged: number } | null {
  let store;
  try {
    store = openStore(db, { readonly: true });
  } catch {
    return null; // not created (or not migrated) yet
  }
  try {
    const run = store.listRuns()[0];
    const last = run && store.listCheckpoints(run.id).at(-1);
    if (!last) return null;
    return { runId: run.id, checkpoint: last.step, logged: store.metrics(run.id, 'loss').at(-1)?.step ?? 0 };
  } finally {
    store.close();
  }
}

async function runsJson(db: string, runId: string) {
  const out = new PassThrough();
  let text = '';
  out.on('data', (d) => (text += d));
  expect(await runCli(['runs', '--run', runId, '--json', '--db', db], out, new PassThrough())).toBe(0);
  return JSON.parse(text);
}

it('survives SIGKILL mid-training and resumes to the end with consistent losses', async () => {
  const home = mkdtempSync(join(tmpdir(), 'ds-sigkill-'));
  const db = join(home, 'studio.db'); // the default location under DIFFUSION_STUDIO_HOME
  const env = { ...process.env, DIFFUSION_STUDIO_HOME: home };
  const child = spawn(
    process.execPath,
    [
      BIN,
      'train',
      ...['--data', 'toy:ring', '--toy-size', '256', '--batch', '16', '--steps', String(STEPS)],
      ...['--checkpoint-every', '10', '--keep', '3', '--backend', 'wasm', '--seed', '7'],
    ],
    { env, stdio: ['ignore', 'pipe', 'pipe'] },
  );
  let stderr = '';
  child.stderr.on('data', (d) => (stderr += d));
  const exited = new Promise<NodeJS.Signals | null>((resolve) => child.on('exit', (_code, signal) => resolve(signal)));

  // Kill after a checkpoint at step >= 4, preferably while losses past it are logged (the steps a resume re-trains).
  let seen: ReturnType<typeof progress> = null;
  const deadline = Date.now() + 15_000;
  const patience = Date.now() + 5_000;
  while (!(seen && seen.checkpoint >= 4 && (seen.logged > seen.checkpoint || Date.now() > patience))) {
    expect(Date.now(), `no checkpoint at step >= 4 in time; stderr: ${stderr}`).toBeLessThan(deadline);
    await new Promise((r) => setTimeout(r, 20));
    seen = progress(db);
  }
  child.kill('SIGKILL');
  expect(await exited).toBe('SIGKILL');
  const runId = seen.runId;

  const raw = new Database(db, { readonly: true });
  expect(raw.pragma('integrity_check', { simple: true })).toBe('ok');
  raw.close();

  // `runs` sees the dead process through its lock file; the service's startup sweep marks the row itself.
  const listed = await runsJson(db, runId);
  expect(listed.status).toBe('interrupted');
  expect(listed.lastStep).toBeLessThan(STEPS);
  const store = openStore(db);
  expect(store.markInterrupted().runs).toEqual([runId]);
  const lossesBefore = new Map(store.metrics(runId, 'loss').map((p) => [p.step, p.value]));
  const resumeFrom = store.listCheckpoints(runId).at(-1)!.step;
  store.close();

  const resumed = spawnSync(process.execPath, [BIN, 'resume', '--run', runId], {
    env,
    encoding: 'utf8',
    timeout: 60_000,
  });
  expect(resumed.stderr).toBe('');
  expect(resumed.status).toBe(0);
  expect(resumed.stdout).toMatch(/\(interrupted, its training process died\)/);
  expect(resumed.stdout).toContain(`resuming from step ${resumeFrom}`);
  expect(resumed.stdout).toContain(`completed ${STEPS} steps`);

  const after = openStore(db, { readonly: true });
  try {
    expect(after.getRun(runId)).toMatchObject({ status: 'completed', lastStep: STEPS });
    const losses = after.metrics(runId, 'loss');
    expect(losses.map((p) => p.step)).toEqual(Array.from({ length: STEPS }, (_, i) => i + 1));
    // Steps logged before the kill, including those past the checkpoint that were trained again, kept their values.
    for (const p of losses)
      if (lossesBefore.has(p.step)) expect(p.value, `step ${p.step}`).toBe(lossesBefore.get(p.step));
    expect(after.listCheckpoints(runId).at(-1)!.step).toBe(STEPS);
  } finally {
    after.close();
  }
}, 40_000);
