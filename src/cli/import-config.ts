/**
 * The config of an import run (a foreign ONNX denoiser registered with `import-onnx`): where its copy lives, how to
 * call it (ForeignInterface) and the diffusion it was trained for. Stored as the run's JSON config.
 */
import type { ForeignInterface } from '../engines/onnx/foreign.ts';
import type { Prediction } from '../core/parameterization.ts';
import type { ScheduleName } from '../core/schedules.ts';
import type { JsonObject } from '../store/types.ts';
import { UsageError } from './errors.ts';

export interface ImportConfig {
  /** The copy in the studio's run folder. */
  file: string;
  /** Where it was imported from (informational). */
  source: string;
  sha256: string;
  prediction: Prediction;
  schedule: ScheduleName;
  timesteps: number;
  /** Classes of a conditional model (0 = unconditional); the null class is fed as this number. */
  classes: number;
  model: ForeignInterface;
}

/** The run's config as an ImportConfig; a damaged one is a UsageError naming the run. */
export function importConfigOf(runId: string, config: JsonObject): ImportConfig {
  const c = config as unknown as Partial<ImportConfig>;
  const ok =
    typeof c.file === 'string' &&
    typeof c.prediction === 'string' &&
    typeof c.schedule === 'string' &&
    typeof c.timesteps === 'number' &&
    typeof c.classes === 'number' &&
    typeof c.model === 'object' &&
    c.model !== null &&
    Array.isArray(c.model.shape);
  if (!ok) throw new UsageError(`import run ${runId} has a damaged config; import the model again`);
  return c as ImportConfig;
}
