/**
 * `diffusion-studio sample`: run any sampler over an analytic Gaussian-mixture model (more model kinds arrive with
 * training). Noise comes from per-sample streams, so --seed gives the same samples whatever --batch-size is.
 */
import { readFile } from 'node:fs/promises';
import { parseArgs } from 'node:util';
import { MixtureDenoiser, mixtureDim, parseGaussianMixture, type GaussianMixture } from '../core/gmm.ts';
import { mixtureVpModel } from '../core/analytic.ts';
import { buildNoiseGrid, GRID_SCHEDULES, type Formulation, type NoiseGrid } from '../core/noise-grid.ts';
import { vpDenoiser } from '../core/parameterization.ts';
import { BatchNoise, initialNoise, StreamPurpose } from '../core/rng.ts';
import { SAMPLER_NAMES, getSampler } from '../core/samplers/index.ts';
import type { Denoiser, Vec } from '../core/types.ts';
import { scheduleSigmaRange } from '../core/spacing.ts';
import { decodeNpy } from '../io/npy.ts';
import { writeNpy } from '../io/npy-file.ts';
import { UsageError } from './errors.ts';
import { choiceFlag, floatFlag, intFlag } from './options.ts';
import { runChecked, SAMPLER_FLAG_OPTIONS, samplerOptionsFromFlags } from './sampler-flags.ts';
import {
  checkDrawable,
  TRAJECTORY_FLAG_OPTIONS,
  TRAJECTORY_OUTPUT_HELP,
  trajectoryOutputs,
  writeTrajectoryOutputs,
} from './trajectory-output.ts';

export const SAMPLE_HELP = `Usage: diffusion-studio sample --model gmm:<file.json> [options]

Model
  --model gmm:FILE        Gaussian mixture {"weights":[...], "means":[[...]], "stds":[...]} (isotropic components)
  --formulation vp|sigma  vp: discrete-time VP model, x_t = sqrt(abar) x0 + sqrt(1-abar) eps, prior N(0, I);
                          sigma: continuous x = x0 + sigma eps, prior N(0, sigma_max^2 I)          [vp]
Noise levels
  --schedule S            linear | cosine | scaled-linear | sigmoid | karras                     [linear for vp,
                                                                                                  karras for sigma]
  --beta-schedule S       the VP model's own beta schedule when --schedule is karras              [linear]
  --timesteps T           training timesteps of a discrete schedule                               [1000]
  --spacing S             linspace | leading | trailing (discrete schedules)                      [linspace]
  --sigma-min X --sigma-max X --rho R   karras range (vp: default the model's own range;
                                        sigma: 0.002 and 80) and rho                              [rho 7]
Sampler
  --sampler NAME          ${SAMPLER_NAMES.join(' | ')}   [euler]
  --steps N               number of steps (sigma intervals)                                       [50]
  --eta X                 stochasticity (ddim: 0..1, euler-ancestral, dpmpp-2m-sde)
  --variance V            ddpm: beta | beta-tilde
  --order K               unipc (1..3), lms (1..4)
  --variant bh1|bh2       unipc's B(h)                                                            [bh2]
  --solver-type T         dpmpp-2m-sde: midpoint | heun                                           [midpoint]
  --s-churn X             euler, heun: EDM stochastic churn                                       [0]
  --s-noise X             noise multiplier of the stochastic samplers
Noise and output
  --seed S                seed of the per-sample noise streams                                    [0]
  --n N                   number of samples                                                       [16]
  --batch-size B          samples per batch (results do not depend on it)                        [n]
  --init-noise FILE.npy   standard-normal start values, shape [n, dim]; scaled to the first noise level
                          (vp: z * sqrt(1 + sigma_0^2) in sigma space, i.e. x_T = z; sigma: z * sigma_0)
  --dtype float32|float64 arithmetic precision of the batch                                       [float32]
  --out FILE.npy          final samples, shape [n, dim]                                           [samples.npy]
  --trajectory FILE.npy   x at every noise level, shape [steps + 1, n, dim] (vp: in VP space x_t)
  --trajectory-x0 FILE.npy  predicted x0 at every step, shape [steps, n, dim]
  --json                  print a JSON summary (NFE, time, sigmas) instead of text
${TRAJECTORY_OUTPUT_HELP}`;

export async function loadMixture(spec: string): Promise<GaussianMixture> {
  if (!spec.startsWith('gmm:') || spec.length <= 4) {
    throw new UsageError(`--model must be gmm:<file.json> (got "${spec}")`);
  }
  const path = spec.slice(4);
  let text: string;
  try {
    text = await readFile(path, 'utf8');
  } catch (e) {
    throw new UsageError(
      `cannot read model file ${path}: ${(e as NodeJS.ErrnoException).code ?? (e as Error).message}`,
    );
  }
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch (e) {
    throw new UsageError(`model file ${path} is not valid JSON: ${(e as Error).message}`);
  }
  try {
    return parseGaussianMixture(json);
  } catch (e) {
    throw new UsageError(`model file ${path}: ${(e as Error).message}`);
  }
}

async function loadInitNoise(path: string, dim: number, n: number | undefined): Promise<Float64Array> {
  let bytes: Uint8Array;
  try {
    bytes = await readFile(path);
  } catch (e) {
    throw new UsageError(
      `cannot read --init-noise ${path}: ${(e as NodeJS.ErrnoException).code ?? (e as Error).message}`,
    );
  }
  let arr;
  try {
    arr = decodeNpy(bytes);
  } catch (e) {
    throw new UsageError(`--init-noise ${path}: ${(e as Error).message}`);
  }
  const { shape, data } = arr;
  if (shape.length !== 2 || shape[1] !== dim) {
    throw new UsageError(`--init-noise ${path} has shape [${shape.join(', ')}]; expected [n, ${dim}] for this model`);
  }
  if (n !== undefined && shape[0] !== n) {
    throw new UsageError(`--init-noise ${path} holds ${shape[0]} samples but --n is ${n}`);
  }
  const out = Float64Array.from(data as ArrayLike<number>);
  if (!out.every(Number.isFinite)) throw new UsageError(`--init-noise ${path} contains NaN or Inf values`);
  return out;
}

export interface SampleSummary {
  model: string;
  formulation: Formulation;
  schedule: string;
  sampler: string;
  options: Record<string, unknown>;
  steps: number;
  nfe: number;
  n: number;
  dim: number;
  seed: number;
  dtype: 'float32' | 'float64';
  sigmas: number[];
  timesteps?: number[];
  ms: number;
  msPerStep: number;
  out: string;
  trajectory?: string;
  trajectoryX0?: string;
  pictures?: string[];
}

export async function sampleCommand(argv: string[], out: NodeJS.WritableStream): Promise<void> {
  const { values: v } = parseArgs({
    args: argv,
    strict: true,
    allowPositionals: false,
    options: {
      model: { type: 'string' },
      formulation: { type: 'string' },
      schedule: { type: 'string' },
      'beta-schedule': { type: 'string' },
      timesteps: { type: 'string' },
      spacing: { type: 'string' },
      'sigma-min': { type: 'string' },
      'sigma-max': { type: 'string' },
      rho: { type: 'string' },
      sampler: { type: 'string' },
      steps: { type: 'string' },
      ...SAMPLER_FLAG_OPTIONS,
      seed: { type: 'string' },
      n: { type: 'string' },
      'batch-size': { type: 'string' },
      'init-noise': { type: 'string' },
      dtype: { type: 'string' },
      out: { type: 'string' },
      trajectory: { type: 'string' },
      'trajectory-x0': { type: 'string' },
      ...TRAJECTORY_FLAG_OPTIONS,
      json: { type: 'boolean' },
    },
  });
  if (!v.model) throw new UsageError('--model is required (e.g. --model gmm:mixture.json)');
  const formulation = choiceFlag('formulation', v.formulation, ['vp', 'sigma'] as const) ?? 'vp';
  const schedule = choiceFlag('schedule', v.schedule, GRID_SCHEDULES) ?? (formulation === 'vp' ? 'linear' : 'karras');
  const betaSchedule = choiceFlag('beta-schedule', v['beta-schedule'], [
    'linear',
    'cosine',
    'scaled-linear',
    'sigmoid',
  ] as const);
  const timesteps = intFlag('timesteps', v.timesteps, 2, 100_000);
  const spacing = choiceFlag('spacing', v.spacing, ['linspace', 'leading', 'trailing'] as const);
  const positive = (x: number) => (x > 0 ? null : 'must be positive');
  const sigmaMin = floatFlag('sigma-min', v['sigma-min'], positive);
  const sigmaMax = floatFlag('sigma-max', v['sigma-max'], positive);
  const rho = floatFlag('rho', v.rho, positive);
  const samplerName = choiceFlag('sampler', v.sampler, SAMPLER_NAMES) ?? 'euler';
  const steps = intFlag('steps', v.steps, 1, 100_000) ?? 50;
  const seed = intFlag('seed', v.seed, 0) ?? 0;
  let n = intFlag('n', v.n, 1, 10_000_000);
  const batchSizeFlag = intFlag('batch-size', v['batch-size'], 1);
  const dtype = choiceFlag('dtype', v.dtype, ['float32', 'float64'] as const) ?? 'float32';
  const outPath = v.out ?? 'samples.npy';
  const pictures = trajectoryOutputs(v);
  if (schedule === 'karras' && spacing) throw new UsageError('--spacing applies to discrete schedules, not karras');
  if (schedule !== 'karras' && (sigmaMin !== undefined || sigmaMax !== undefined || rho !== undefined)) {
    throw new UsageError('--sigma-min, --sigma-max and --rho apply to --schedule karras only');
  }
  if (betaSchedule && !(formulation === 'vp' && schedule === 'karras')) {
    throw new UsageError('--beta-schedule applies to --formulation vp with --schedule karras only');
  }
  if (sigmaMin !== undefined && sigmaMax !== undefined && !(sigmaMin < sigmaMax)) {
    throw new UsageError(`--sigma-min (${sigmaMin}) must be below --sigma-max (${sigmaMax})`);
  }
  if (timesteps !== undefined && schedule !== 'karras' && steps > timesteps) {
    throw new UsageError(`--steps (${steps}) cannot exceed --timesteps (${timesteps}) on a discrete schedule`);
  }

  const entry = getSampler(samplerName);
  const options = samplerOptionsFromFlags(samplerName, v);

  const mixture = await loadMixture(v.model);
  const dim = mixtureDim(mixture);
  if (pictures) checkDrawable([dim]);
  const z = v['init-noise'] ? await loadInitNoise(v['init-noise'], dim, n) : undefined;
  if (z) n = z.length / dim;
  n ??= 16;
  const batchSize = Math.min(batchSizeFlag ?? n, n);

  let grid: NoiseGrid;
  try {
    grid = buildNoiseGrid({ formulation, schedule, steps, timesteps, betaSchedule, spacing, sigmaMin, sigmaMax, rho });
  } catch (e) {
    throw new UsageError((e as Error).message);
  }
  let denoiser: Denoiser;
  if (formulation === 'vp') {
    const discrete = grid.schedule!;
    const range = scheduleSigmaRange(discrete);
    const tol = 1e-9 * range.sigmaMax;
    if (grid.sigmas[0] > range.sigmaMax + tol || grid.sigmas[grid.sigmas.length - 2] < range.sigmaMin - 1e-12) {
      throw new UsageError(
        `karras range [${grid.sigmas[grid.sigmas.length - 2]}, ${grid.sigmas[0]}] lies outside the VP model's noise ` +
          `levels [${range.sigmaMin}, ${range.sigmaMax}]`,
      );
    }
    denoiser = vpDenoiser(mixtureVpModel(mixture, discrete, 'eps'), discrete, 'eps');
  } else {
    denoiser = new MixtureDenoiser(mixture);
  }

  const ArrayType = dtype === 'float64' ? Float64Array : Float32Array;
  const samples = new ArrayType(n * dim);
  const traj = v.trajectory || pictures ? new Float32Array((steps + 1) * n * dim) : undefined;
  const trajX0 = v['trajectory-x0'] || pictures ? new Float32Array(steps * n * dim) : undefined;
  // Trajectories are reported in the formulation's own space: VP users expect x_t, not x_t scaled by 1/sqrt(abar).
  const toNative = (sigma: number) => (formulation === 'vp' ? 1 / Math.sqrt(1 + sigma * sigma) : 1);
  let nfe = 0;
  const started = performance.now();
  for (let first = 0; first < n; first += batchSize) {
    const count = Math.min(batchSize, n - first);
    const x = z
      ? ArrayType.from(z.subarray(first * dim, (first + count) * dim))
      : initialNoise(seed, first, count, dim, ArrayType);
    for (let i = 0; i < x.length; i++) x[i] *= grid.initScale;
    const place = (dst: Float32Array, step: number, src: Vec, scale: number) => {
      const base = step * n * dim + first * dim;
      for (let i = 0; i < src.length; i++) dst[base + i] = src[i] * scale;
    };
    const result = await runChecked(() =>
      entry.run(
        {
          denoiser,
          sigmas: grid.sigmas,
          x,
          noise: new BatchNoise(seed, first, count, dim, StreamPurpose.sampler),
          onStep:
            traj || trajX0
              ? (s) => {
                  if (traj) place(traj, s.i, s.x, toNative(s.sigma));
                  if (trajX0) place(trajX0, s.i, s.x0Pred, 1);
                }
              : undefined,
        },
        options,
      ),
    );
    if (traj) place(traj, steps, result.x, toNative(grid.sigmas[steps]));
    samples.set(result.x, first * dim);
    nfe = result.nfe; // per batch; every batch uses the same count
  }
  const ms = performance.now() - started;
  if (!samples.every(Number.isFinite)) throw new Error('sampling produced NaN or Inf values');

  await writeNpy(outPath, samples, [n, dim]);
  if (traj && v.trajectory) await writeNpy(v.trajectory, traj, [steps + 1, n, dim]);
  if (trajX0 && v['trajectory-x0']) await writeNpy(v['trajectory-x0'], trajX0, [steps, n, dim]);
  const pictureFiles = pictures
    ? await writeTrajectoryOutputs(
        pictures,
        { shape: [dim], n, sigmas: Array.from(grid.sigmas), x: traj!, x0: trajX0! },
        {
          model: { model: v.model, formulation, schedule },
          run: null,
          sampler: samplerName,
          options,
          steps,
          seed,
          n,
          sigmas: Array.from(grid.sigmas),
        },
      )
    : [];

  const summary: SampleSummary = {
    model: v.model,
    formulation,
    schedule,
    sampler: samplerName,
    options: { ...entry.defaults, ...options },
    steps,
    nfe,
    n,
    dim,
    seed,
    dtype,
    sigmas: Array.from(grid.sigmas),
    ...(grid.timesteps ? { timesteps: grid.timesteps } : {}),
    ms,
    msPerStep: ms / steps,
    out: outPath,
    ...(v.trajectory ? { trajectory: v.trajectory } : {}),
    ...(v['trajectory-x0'] ? { trajectoryX0: v['trajectory-x0'] } : {}),
    ...(pictureFiles.length ? { pictures: pictureFiles } : {}),
  };
  if (v.json) {
    out.write(`${JSON.stringify(summary)}\n`);
  } else {
    out.write(
      `${entry.label}: ${n} samples x ${dim} dims, ${steps} steps, ${nfe} model evaluations per sample, ` +
        `${ms.toFixed(1)} ms -> ${[outPath, ...pictureFiles].join(', ')}\n`,
    );
  }
}
