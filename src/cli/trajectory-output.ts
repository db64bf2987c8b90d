/**
 * The `sample` flags that draw the trajectory (--trajectory-png, --animation, ...), shared by `sample --model` and
 * `sample --run`: parsing, and writing the strip and animation with their provenance.
 */
import {
  chooseSteps,
  MAX_FRAMES,
  stripLayout,
  trajectoryAnimation,
  trajectoryStripPng,
  type TrajectoryData,
} from '../io/trajectory-export.ts';
import { softwareName, trajectoryText, writeWithTrajectoryProvenance } from '../io/trajectory-provenance.ts';
import type { TrajectoryProvenance } from '../io/trajectory-provenance.ts';
import { UsageError } from './errors.ts';
import { intFlag } from './options.ts';

export const TRAJECTORY_OUTPUT_HELP = `Trajectory pictures (images, or 2-D points as scatters)
  --trajectory-png FILE.png  a strip: columns = steps (at most 16, first and last included), x_t above the
                          predicted x0; rows = samples for images, one scatter per step for 2-D points
  --strip-samples K       image rows in the strip                                                 [4]
  --strip-every M         every M-th step as a column instead of 16 evenly spaced ones
  --animation FILE        FILE.png (APNG) or FILE.gif: x_t | predicted x0, one frame per step (at most 120)
  --frame-delay MS        delay between frames; the final frame is held at least 1 s              [120]
  Both carry provenance (sampler, steps, seed, model, sigmas): PNG tEXt chunks and FILE.json beside them.
`;

export const TRAJECTORY_FLAG_OPTIONS = {
  'trajectory-png': { type: 'string' },
  'strip-samples': { type: 'string' },
  'strip-every': { type: 'string' },
  animation: { type: 'string' },
  'frame-delay': { type: 'string' },
} as const;

export interface TrajectoryOutputs {
  strip?: string;
  stripSamples: number;
  stripEvery?: number;
  animation?: string;
  animationFormat: 'apng' | 'gif';
  frameDelayMs: number;
}

/** undefined when neither picture is asked for; the sample count to record is max(k, 16 for the animation). */
export function trajectoryOutputs(v: {
  'trajectory-png'?: string;
  'strip-samples'?: string;
  'strip-every'?: string;
  animation?: string;
  'frame-delay'?: string;
}): TrajectoryOutputs | undefined {
  const stripSamples = intFlag('strip-samples', v['strip-samples'], 1, 64);
  const stripEvery = intFlag('strip-every', v['strip-every'], 1);
  const frameDelay = intFlag('frame-delay', v['frame-delay'], 10, 65535);
  const strip = v['trajectory-png'];
  const animation = v.animation;
  if (strip === undefined && (stripSamples !== undefined || stripEvery !== undefined))
    throw new UsageError('--strip-samples and --strip-every need --trajectory-png');
  if (animation === undefined && frameDelay !== undefined) throw new UsageError('--frame-delay needs --animation');
  if (strip !== undefined && !strip.toLowerCase().endsWith('.png'))
    throw new UsageError('--trajectory-png must name a .png file');
  const lower = animation?.toLowerCase();
  if (lower !== undefined && !lower.endsWith('.png') && !lower.endsWith('.gif'))
    throw new UsageError('--animation must name a .png (APNG) or .gif file');
  if (strip === undefined && animation === undefined) return undefined;
  return {
    ...(strip !== undefined ? { strip } : {}),
    stripSamples: stripSamples ?? 4,
    ...(stripEvery !== undefined ? { stripEvery } : {}),
    ...(animation !== undefined ? { animation } : {}),
    animationFormat: lower?.endsWith('.gif') ? 'gif' : 'apng',
    frameDelayMs: frameDelay ?? 120,
  };
}

/** Image samples the trajectory must keep (2-D points keep all of them). */
export const ANIMATION_SAMPLES = 16;
export function imageSamplesNeeded(o: TrajectoryOutputs): number {
  return Math.max(o.strip ? o.stripSamples : 0, o.animation ? ANIMATION_SAMPLES : 0);
}

export function checkDrawable(shape: readonly number[]): void {
  if (!(shape.length === 3 || (shape.length === 1 && shape[0] === 2)))
    throw new UsageError(
      `--trajectory-png and --animation draw images or 2-D points; these samples have shape [${shape.join(', ')}]`,
    );
}

type Base = Omit<TrajectoryProvenance, 'kind' | 'shown' | 'shownSteps' | 'frameDelayMs' | 'software'>;

/** Writes the requested pictures and their sidecars; returns the files written. */
export async function writeTrajectoryOutputs(o: TrajectoryOutputs, t: TrajectoryData, base: Base): Promise<string[]> {
  const image = t.shape.length === 3;
  const files: string[] = [];
  if (o.strip) {
    const opts = { samples: o.stripSamples, ...(o.stripEvery !== undefined ? { every: o.stripEvery } : {}) };
    const png = await trajectoryStripPng(t, opts);
    const p: TrajectoryProvenance = {
      software: softwareName(),
      kind: 'trajectory-strip',
      ...base,
      shown: image ? Math.min(o.stripSamples, t.n) : t.n,
      shownSteps: stripLayout(t, opts).columns,
    };
    files.push(o.strip, await writeWithTrajectoryProvenance(o.strip, png, p, { addText: true }));
  }
  if (o.animation) {
    const p: TrajectoryProvenance = {
      software: softwareName(),
      kind: 'trajectory-animation',
      ...base,
      shown: image ? Math.min(ANIMATION_SAMPLES, t.n) : t.n,
      shownSteps: chooseSteps(t.sigmas.length - 1, MAX_FRAMES),
      frameDelayMs: o.frameDelayMs,
    };
    const { bytes } = await trajectoryAnimation(t, {
      samples: ANIMATION_SAMPLES,
      delayMs: o.frameDelayMs,
      format: o.animationFormat,
      text: trajectoryText(p),
    });
    files.push(o.animation, await writeWithTrajectoryProvenance(o.animation, bytes, p, { addText: false }));
  }
  return files;
}
