/**
 * Preview samples during training: the EMA weights, a deterministic sampler (DDIM, eta 0) and fixed initial noise
 * from the run's own `preview` stream, so successive previews differ only by what the model learned, and drawing
 * them never touches the training streams.
 */
import { BatchNoise, StreamPurpose } from '../core/rng.ts';
import { buildNoiseGrid } from '../core/noise-grid.ts';
import { vpDenoiser } from '../core/parameterization.ts';
import type { DiscreteSchedule } from '../core/schedules.ts';
import { SAMPLERS } from '../core/samplers/index.ts';
import { TfjsModel, tfjsVpModel } from '../engines/tfjs/model.ts';
import type { ModelIR } from '../model/ir.ts';
import type { Prediction } from '../core/parameterization.ts';

export interface PreviewSpec {
  ir: ModelIR;
  schedule: DiscreteSchedule;
  prediction: Prediction;
  seed: number;
  count: number;
  steps: number;
  /** Class per preview sample (cycled), when the model is conditional. */
  numClasses: number;
}

export interface Preview {
  step: number;
  /** count * dim values, in the data's layout and range ([-1, 1] for images). */
  samples: Float32Array;
  count: number;
  labels: Int32Array | null;
}

export async function drawPreview(
  spec: PreviewSpec,
  params: ReadonlyMap<string, Float32Array>,
  step: number,
): Promise<Preview> {
  const model = TfjsModel.create(spec.ir, params);
  try {
    const dim = model.dim;
    const labels =
      spec.numClasses > 0 ? Int32Array.from({ length: spec.count }, (_, j) => j % spec.numClasses) : undefined;
    const grid = buildNoiseGrid({
      formulation: 'vp',
      schedule: spec.schedule.name,
      timesteps: spec.schedule.T,
      steps: Math.min(spec.steps, spec.schedule.T),
    });
    const x = new Float32Array(spec.count * dim);
    new BatchNoise(spec.seed, 0, spec.count, dim, StreamPurpose.preview).normal(x);
    for (let i = 0; i < x.length; i++) x[i] *= grid.initScale;
    // Images live in [-1, 1]; 2-D toy data does not (a ring has radius ~1.4), so only images are clipped.
    const image = spec.ir.inputs.x.shape.length === 3;
    const denoiser = vpDenoiser(tfjsVpModel(model, labels), spec.schedule, spec.prediction, image ? { clipX0: 1 } : {});
    const result = await SAMPLERS.ddim.run({ denoiser, sigmas: grid.sigmas, x }, { eta: 0 });
    return { step, samples: result.x as Float32Array, count: spec.count, labels: labels ?? null };
  } finally {
    model.dispose();
  }
}
