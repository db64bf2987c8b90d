/** The studio's per-user data directory: the database, sample arrays and training checkpoints live under it. */
import { homedir } from 'node:os';
import { join, resolve } from 'node:path';

export const DATA_DIR_ENV = 'DIFFUSION_STUDIO_HOME';

/** An explicit path wins, then $DIFFUSION_STUDIO_HOME, then ~/.diffusion-studio. */
export function resolveDataDir(explicit?: string, env: NodeJS.ProcessEnv = process.env): string {
  const chosen = explicit || env[DATA_DIR_ENV] || join(homedir(), '.diffusion-studio');
  return resolve(chosen);
}

export function dataPaths(dataDir: string) {
  return {
    database: join(dataDir, 'studio.db'),
    samples: join(dataDir, 'samples'),
    /** One folder of checkpoints (and previews) per training run, as the CLI lays them out. */
    runs: join(dataDir, 'runs'),
    /** Files the user exported from the studio (grids, strips, animations, sidecars); served at /exports/<name>. */
    exports: join(dataDir, 'exports'),
    /** One folder per stored comparison: cell samples and trajectories (.npy). */
    comparisons: join(dataDir, 'comparisons'),
  };
}
