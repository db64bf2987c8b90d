/**
 * exportTrajectory: a stored trajectory drawn as a strip PNG or an APNG / GIF animation (src/io/trajectory-export.ts,
 * as the CLI draws them) into the exports folder, with its provenance: tEXt chunks inside PNGs and APNGs, and the
 * same record as `<name>.json` beside every file (GIFs have no text chunks).
 */
import type { ExportedFile, TrajectoryExportRequest } from '../api/contract.ts';
import { NotFoundError, ValidationError } from '../api/errors.ts';
import type { RunProvenance } from '../compare/provenance.ts';
import { writeCheckpointBytes } from '../checkpoint/io.ts';
import { addPngText } from '../io/png-text.ts';
import {
  chooseSteps,
  MAX_FRAMES,
  stripLayout,
  trajectoryAnimation,
  trajectoryStripPng,
} from '../io/trajectory-export.ts';
import { softwareName, trajectoryText, type TrajectoryProvenance } from '../io/trajectory-provenance.ts';
import type { Store } from '../store/store.ts';
import type { SampleSet } from '../store/types.ts';
import { writeExport } from './exports.ts';
import { readTrajectory, trajectoryPictureData, trajectorySummary } from './trajectories.ts';

const FRAME_DELAY_MS = 120;

function runProvenance(store: Store, set: SampleSet): RunProvenance | null {
  if (!set.runId) return null;
  const checkpoint = set.checkpointId ? store.getCheckpoint(set.checkpointId) : undefined;
  return {
    run: set.runId,
    checkpoint: set.checkpointId,
    checkpointSha256: checkpoint?.sha256 ?? null,
    step: checkpoint?.step ?? null,
    ema: set.model.ema === true,
  };
}

export async function exportTrajectory(
  store: Store,
  exportsDir: string,
  request: TrajectoryExportRequest,
): Promise<ExportedFile> {
  if (!request || typeof request !== 'object') throw new ValidationError('the request must be an object');
  const { trajectoryId, kind, format = 'apng', samples } = request;
  if (typeof trajectoryId !== 'string') throw new ValidationError('trajectoryId must be a trajectory id');
  if (kind !== 'strip' && kind !== 'animation') throw new ValidationError('kind must be strip or animation');
  if (format !== 'apng' && format !== 'gif') throw new ValidationError('format must be apng or gif');
  if (samples !== undefined && !(Number.isInteger(samples) && samples >= 1 && samples <= 64)) {
    throw new ValidationError('samples must be an integer in 1..64');
  }
  const set = store.getSampleSet(trajectoryId);
  const summary = set && trajectorySummary(set);
  if (!set || !summary) throw new NotFoundError(`no stored trajectory ${trajectoryId}`);
  const shape = summary.shape;
  if (!(shape.length === 3 || (shape.length === 1 && shape[0] === 2))) {
    throw new ValidationError(`a trajectory picture draws images or 2-D points; these samples have shape [${shape}]`);
  }
  const data = trajectoryPictureData(await readTrajectory(set));
  const image = shape.length === 3;
  const base: Omit<TrajectoryProvenance, 'kind' | 'shown' | 'shownSteps'> = {
    software: softwareName(),
    model: set.model,
    run: runProvenance(store, set),
    sampler: set.sampler,
    options: set.options,
    steps: set.steps,
    seed: set.seed,
    n: set.n,
    sigmas: summary.sigmas,
  };
  const name = `trajectory-${set.id}-${set.sampler}-${set.steps}`;

  let file: ExportedFile;
  let provenance: TrajectoryProvenance;
  if (kind === 'strip') {
    const opts = { samples: samples ?? 4 };
    provenance = {
      ...base,
      kind: 'trajectory-strip',
      shown: image ? Math.min(opts.samples, data.n) : data.n,
      shownSteps: stripLayout(data, opts).columns,
    };
    const png = await trajectoryStripPng(data, opts);
    file = await writeExport(exportsDir, `${name}-strip`, 'png', addPngText(png, trajectoryText(provenance)));
  } else {
    const tiles = samples ?? 16;
    provenance = {
      ...base,
      kind: 'trajectory-animation',
      shown: image ? Math.min(tiles, data.n) : data.n,
      shownSteps: chooseSteps(data.sigmas.length - 1, MAX_FRAMES),
      frameDelayMs: FRAME_DELAY_MS,
    };
    const { bytes } = await trajectoryAnimation(data, {
      samples: tiles,
      delayMs: FRAME_DELAY_MS,
      format,
      text: trajectoryText(provenance),
    });
    file = await writeExport(exportsDir, `${name}-animation`, format === 'gif' ? 'gif' : 'png', bytes);
  }
  await writeCheckpointBytes(`${file.path}.json`, new TextEncoder().encode(`${JSON.stringify(provenance, null, 2)}\n`));
  return file;
}
