/**
 * `diffusion-studio resume --run ID`: continue a stopped, crashed or finished run from its latest good checkpoint
 * (walking back past damaged ones), optionally to a new step count. Exactly as if it had never stopped.
 */
import { dirname, resolve } from 'node:path';
import { parseArgs } from 'node:util';
import type { JsonObject } from '../store/types.ts';
import { resolveTrainConfig } from '../train/config.ts';
import { UsageError } from './errors.ts';
import { intFlag } from './options.ts';
import {
  acquireLock,
  lockState,
  openStudioStore,
  requireRun,
  runFolder,
  studioPaths,
  usageErrors,
} from './studio-paths.ts';
import { runTraining, selectEngine } from './train.ts';

export const RESUME_HELP = `Usage: diffusion-studio resume --run ID [options]

Continues a training run from its latest good checkpoint (damaged ones are reported and skipped), with the
same data order, noise and optimizer state, so the result equals an uninterrupted run.

  --run ID        the run (see: diffusion-studio runs)
  --steps N       train to step N instead of the run's own step count (extends or shortens the run; the stored
                  config is updated; with --lr-decay cosine the decay is stretched from here on)
  --db FILE       studio database                          [$DIFFUSION_STUDIO_HOME/studio.db]
  --out DIR       folder for new run files                 [where the run's checkpoints already are]
  --force         resume a run marked running or paused that no CLI process on this machine holds (e.g. after
                  the studio crashed); make sure nothing else trains it

Ctrl-C stops it again with a checkpoint (exit 130).
`;

export async function resumeCommand(argv: string[], out: NodeJS.WritableStream): Promise<number> {
  const { values: v } = parseArgs({
    args: argv,
    strict: true,
    allowPositionals: false,
    options: {
      run: { type: 'string' },
      steps: { type: 'string' },
      db: { type: 'string' },
      out: { type: 'string' },
      force: { type: 'boolean' },
    },
  });
  if (!v.run) throw new UsageError('--run ID is required (see: diffusion-studio runs)');
  const steps = intFlag('steps', v.steps, 1);
  const paths = studioPaths({ db: v.db, out: v.out });
  const store = openStudioStore(paths.db);
  try {
    const run = requireRun(store, v.run, paths);
    if (run.kind !== 'train') throw new UsageError(`run ${run.id} is a ${run.kind} run; only training runs resume`);
    let config = usageErrors(() => resolveTrainConfig(run.config));
    const checkpoints = store.listCheckpoints(run.id);
    const runDir = runFolder(run.id, checkpoints, paths.runs);
    // New checkpoints go beside the old ones unless --out says otherwise.
    const runs = { ...paths, runs: v.out ? resolve(v.out) : dirname(runDir) };
    const lock = lockState(runDir).state;
    if ((run.status === 'running' || run.status === 'paused') && lock === 'none' && !v.force) {
      // Not started by a CLI process on this machine: the studio may be training it right now.
      throw new UsageError(
        `run ${run.id} is marked ${run.status} by another program (the studio?); stop it there first, ` +
          'or pass --force if nothing is training it',
      );
    }
    const crashed = lock === 'dead';
    // Recorded now, so the row stays right even if this resume fails before training (its lock file then goes).
    if (crashed) store.updateRunStatus(run.id, 'interrupted', 'the training process died');
    const release = acquireLock(runDir, run.id); // refuses while a live process trains it
    const target = steps ?? config.steps;
    try {
      if (checkpoints.length === 0) throw new UsageError(`run ${run.id} has no checkpoint to resume from`);
      const latest = checkpoints[checkpoints.length - 1].step;
      if (steps !== undefined && steps < latest) {
        throw new UsageError(`--steps ${steps} is below the run's latest checkpoint (step ${latest})`);
      }
      if (latest >= target && run.status === 'completed') {
        throw new UsageError(
          `run ${run.id} already completed its ${config.steps} steps; pass --steps N (> ${latest}) to train further`,
        );
      }
      await selectEngine(config);
      if (target !== config.steps) {
        config = { ...config, steps: target };
        store.updateRunConfig(run.id, config as unknown as JsonObject);
      }
    } catch (e) {
      release();
      throw e;
    }
    const why = crashed ? 'interrupted, its training process died' : run.status;
    out.write(`resuming run ${run.id} "${run.name}" (${why}) to step ${target}\n`);
    return await runTraining({
      store,
      paths: runs,
      run: { ...run, config: config as unknown as JsonObject },
      config,
      resume: true,
      out,
      release,
    });
  } finally {
    store.close();
  }
}
