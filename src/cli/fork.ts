/**
 * `diffusion-studio fork --run ID [--checkpoint C]`: a new run that starts from any checkpoint of another one, with
 * the optimizer hyperparameters optionally changed (the usual answer to a diverged run: fork from the last good
 * checkpoint with a lower learning rate). Model, data and objective stay those of the parent.
 */
import { parseArgs } from 'node:util';
import { CheckpointManager } from '../checkpoint/manager.ts';
import type { JsonObject } from '../store/types.ts';
import { forkConfig, type ForkOverrides } from '../train/fork-config.ts';
import { UsageError } from './errors.ts';
import { floatFlag, intFlag } from './options.ts';
import { openStudioStore, requireRun, runFolder, studioPaths, usageErrors, usageErrorsAsync } from './studio-paths.ts';
import { dirname } from 'node:path';

export const FORK_HELP = `Usage: diffusion-studio fork --run ID [options]

Creates a new run whose step 0 is a checkpoint of another run; train it with: diffusion-studio resume --run NEW_ID

  --run ID           the parent run
  --checkpoint C     checkpoint id or step                     [the parent's latest]
  --name NAME        the new run's name                        [<parent name> (fork @ step)]
  --steps N          train the new run to step N               [the parent's]
  --lr X             learning rate                             [the parent's]
  --warmup N         warmup steps                              [the parent's]
  --grad-clip X      global gradient-norm clip, 0 = off        [the parent's]
  --weight-decay X   weight decay                              [the parent's]
  --db FILE          studio database                          [$DIFFUSION_STUDIO_HOME/studio.db]
`;

export async function forkCommand(argv: string[], out: NodeJS.WritableStream): Promise<number> {
  const { values: v } = parseArgs({
    args: argv,
    strict: true,
    allowPositionals: false,
    options: {
      run: { type: 'string' },
      checkpoint: { type: 'string' },
      name: { type: 'string' },
      steps: { type: 'string' },
      lr: { type: 'string' },
      warmup: { type: 'string' },
      'grad-clip': { type: 'string' },
      'weight-decay': { type: 'string' },
      db: { type: 'string' },
    },
  });
  if (!v.run) throw new UsageError('--run ID is required (see: diffusion-studio runs)');
  const paths = studioPaths({ db: v.db });
  const store = openStudioStore(paths.db);
  try {
    const parent = requireRun(store, v.run, paths);
    if (parent.kind !== 'train')
      throw new UsageError(`run ${parent.id} is a ${parent.kind} run; only training runs fork`);
    const checkpoints = store.listCheckpoints(parent.id);
    if (checkpoints.length === 0) throw new UsageError(`run ${parent.id} has no checkpoint to fork from`);
    const wanted = v.checkpoint;
    const source = wanted
      ? checkpoints.find((c) => c.id === wanted || String(c.step) === wanted)
      : checkpoints[checkpoints.length - 1];
    if (!source) {
      throw new UsageError(
        `run ${parent.id} has no checkpoint "${wanted}"; it has steps ${checkpoints.map((c) => c.step).join(', ')}`,
      );
    }
    const changes: ForkOverrides = {};
    const steps = intFlag('steps', v.steps, 1);
    if (steps !== undefined) {
      if (steps < source.step) throw new UsageError(`--steps ${steps} is below the checkpoint's step ${source.step}`);
      changes.steps = steps;
    }
    const lr = floatFlag('lr', v.lr, (x) => (x > 0 ? null : 'must be positive'));
    if (lr !== undefined) changes.lr = lr;
    const warmup = intFlag('warmup', v.warmup, 0);
    if (warmup !== undefined) changes.warmupSteps = warmup;
    const clip = floatFlag('grad-clip', v['grad-clip'], (x) => (x >= 0 ? null : 'must be >= 0'));
    if (clip !== undefined) changes.gradClip = clip;
    const wd = floatFlag('weight-decay', v['weight-decay'], (x) => (x >= 0 ? null : 'must be >= 0'));
    if (wd !== undefined) changes.weightDecay = wd;
    const config = usageErrors(() => forkConfig(parent.config, source.step, changes));

    const runsDir = dirname(runFolder(parent.id, checkpoints, paths.runs));
    const manager = new CheckpointManager(store, runsDir);
    const name = v.name ?? `${parent.name} (fork @ ${source.step})`;
    const child = await usageErrorsAsync(() =>
      manager.fork(source.id, name, { config: config as unknown as JsonObject }),
    );
    out.write(
      `forked run ${child.id} "${name}" from run ${parent.id} at step ${source.step}` +
        `${Object.keys(changes).length ? ` with ${JSON.stringify(changes)}` : ''}\n` +
        `train it with: diffusion-studio resume --run ${child.id}${v.db ? ` --db ${v.db}` : ''}\n`,
    );
    return 0;
  } finally {
    store.close();
  }
}
