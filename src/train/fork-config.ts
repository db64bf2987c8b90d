/**
 * The config of a run forked from a checkpoint: the parent's, with only optimizer and bookkeeping settings changed
 * (the usual answer to a diverged run is a lower learning rate from the last good checkpoint). Model, data,
 * objective and seed stay the parent's, so the checkpoint's weights and data position still fit. Shared by the
 * CLI's `fork` and the studio's forkRun.
 */
import { ConfigError, resolveTrainConfig, type TrainConfig } from './config.ts';

/** Fields a fork may change. */
export const FORK_FIELDS = [
  'steps',
  'lr',
  'warmupSteps',
  'gradClip',
  'weightDecay',
  'lrDecay',
  'checkpointEvery',
  'keepLast',
  'previewEvery',
] as const;

export type ForkField = (typeof FORK_FIELDS)[number];
export type ForkOverrides = Partial<Pick<TrainConfig, ForkField>>;

/**
 * The parent's config with `overrides` applied, fully validated. Throws ConfigError naming the field: an unknown or
 * unchangeable field, a bad value, or steps below the checkpoint's step.
 */
export function forkConfig(parentConfig: unknown, checkpointStep: number, overrides: ForkOverrides): TrainConfig {
  const base = resolveTrainConfig(parentConfig);
  if (!overrides || typeof overrides !== 'object') throw new ConfigError('fork overrides must be an object');
  for (const key of Object.keys(overrides)) {
    if (!(FORK_FIELDS as readonly string[]).includes(key)) {
      throw new ConfigError(`${key} cannot change in a fork (only ${FORK_FIELDS.join(', ')} can)`);
    }
  }
  const changes = Object.fromEntries(Object.entries(overrides).filter(([, v]) => v !== undefined));
  const config = resolveTrainConfig({ ...base, ...changes });
  if (config.steps < checkpointStep) {
    throw new ConfigError(`steps ${config.steps} is below the checkpoint's step ${checkpointStep}`);
  }
  return config;
}
