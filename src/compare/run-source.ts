/**
 * Comparison cells over a run's network (trained or imported; see cli/run-engine.ts), through the same chunked loop
 * as `sample --run` (core/batched-sampling.ts). That loop draws sample j's start from the init stream (seed, j)
 * whatever the chunk, so every cell starts from the same z. No true error here: a network has no exact answer.
 */
import { sampleInChunks } from '../core/batched-sampling.ts';
import { buildNoiseGrid } from '../core/noise-grid.ts';
import type { Prediction, VpModel } from '../core/parameterization.ts';
import type { ScheduleName } from '../core/schedules.ts';
import { getSampler } from '../core/samplers/index.ts';
import type { JsonObject } from '../store/types.ts';
import type { CellSource } from './comparison.ts';

/** The part of a RunEngine a comparison needs. */
export interface RunModel {
  prediction: Prediction;
  schedule: ScheduleName;
  timesteps: number;
  shape: number[];
  numClasses: number;
  vp(labels?: Int32Array): VpModel;
}

export interface RunSourceOptions {
  /** Samples per model call. */
  chunk: number;
  /** Conditional runs: one class per sample (default: the classes in turn). */
  labels?: Int32Array;
  describe: JsonObject;
}

export function runSource(model: RunModel, opts: RunSourceOptions): CellSource {
  const image = model.shape.length === 3;
  return {
    shape: [...model.shape],
    describe: opts.describe,
    checkSteps(steps) {
      if (steps > model.timesteps) {
        throw new RangeError(`steps (${steps}) cannot exceed the run's ${model.timesteps} timesteps`);
      }
    },
    async sample(cell, n, seed, hooks = {}) {
      if (cell.guidance !== undefined && model.numClasses === 0) {
        throw new RangeError('guidance needs a conditional run (trained with --cond)');
      }
      const grid = buildNoiseGrid({
        formulation: 'vp',
        schedule: model.schedule,
        timesteps: model.timesteps,
        steps: cell.steps,
      });
      const labels =
        model.numClasses > 0
          ? (opts.labels ?? Int32Array.from({ length: n }, (_, j) => j % model.numClasses))
          : undefined;
      const result = await sampleInChunks({
        vp: (l) => model.vp(l),
        grid,
        prediction: model.prediction,
        ...(image ? { clipX0: 1 } : {}),
        sampler: getSampler(cell.sampler),
        options: cell.options,
        n,
        chunk: opts.chunk,
        seed,
        ...(labels ? { labels, guidance: cell.guidance ?? 1 } : {}),
        ...(hooks.onStep ? { onStep: (first: number, _count: number, info) => hooks.onStep!(info, first) } : {}),
        ...(hooks.signal ? { signal: hooks.signal } : {}),
      });
      // As `sample --run`: image samples are clipped to [-1, 1].
      if (image)
        for (let i = 0; i < result.samples.length; i++)
          result.samples[i] = Math.max(-1, Math.min(1, result.samples[i]));
      return { samples: result.samples, nfe: result.nfe, initScale: grid.initScale };
    },
  };
}
