/**
 * `diffusion-studio sample --run ID`: sample a trained run's checkpoint (tfjs, or exported to onnxruntime) or an
 * imported ONNX model (onnxruntime) with any sampler. The network is
 * wrapped as a VpModel, turned into a sigma-space denoiser over the run's own discrete schedule (vpDenoiser), with
 * classifier-free guidance for conditional runs, and sampled from per-sample noise streams: the same seed gives the
 * same samples whatever --batch-size is.
 *
 * Images: x0 predictions are clipped to [-1, 1] at every step (DDPM's clip_denoised) and so are the final samples,
 * in the grid and in the .npy alike.
 */
import { writeFile } from 'node:fs/promises';
import { parseArgs } from 'node:util';
import { sampleInChunks } from '../core/batched-sampling.ts';
import { buildNoiseGrid, type NoiseGrid } from '../core/noise-grid.ts';
import { getSampler, SAMPLER_NAMES } from '../core/samplers/index.ts';
import { PROVIDER_ORDER } from '../engines/onnx/session.ts';
import { writeNpy } from '../io/npy-file.ts';
import { encodePng, imagesToGridPng } from '../io/png.ts';
import type { JsonObject } from '../store/types.ts';
import type { StepInfo } from '../core/types.ts';
import { UsageError } from './errors.ts';
import { openRunEngine } from './run-engine.ts';
import { runChecked, SAMPLER_FLAG_OPTIONS, samplerOptionsFromFlags } from './sampler-flags.ts';
import { choiceFlag, floatFlag, intFlag } from './options.ts';
import { openStudioStore, studioPaths } from './studio-paths.ts';
import {
  checkDrawable,
  imageSamplesNeeded,
  TRAJECTORY_FLAG_OPTIONS,
  TRAJECTORY_OUTPUT_HELP,
  trajectoryOutputs,
  writeTrajectoryOutputs,
} from './trajectory-output.ts';
import type { TrajectoryData } from '../io/trajectory-export.ts';

export const SAMPLE_RUN_HELP = `Usage: diffusion-studio sample --run ID [options]        (a trained or imported run)

  --run ID                a training run or an imported ONNX model (see: diffusion-studio runs)
  --checkpoint C          checkpoint id or step                                                   [latest good]
  --ema                   use the EMA weights (usually the better samples) instead of the raw weights
  --sampler NAME          ${SAMPLER_NAMES.join(' | ')}   [euler]
  --steps N               sampler steps over the run's own schedule                               [50]
  --spacing S             linspace | leading | trailing                                           [linspace]
  --eta --variance --order --variant --solver-type --s-churn --s-noise   sampler options, as for --model
  --n N                   number of samples                                                       [16]
  --batch-size B          samples per model call (results do not depend on it)                    [min(n, 64)]
  --seed S                seed of the per-sample noise streams                                    [0]
  --class K               conditional runs: every sample of class K (default: classes in turn 0, 1, ...)
  --guidance W            classifier-free guidance D = D_u + W (D_c - D_u); 1 = plain conditional [1]
  --grid FILE.png         images: a grid (tiles upscaled by --scale); 2-D toy runs: a scatter plot
  --scale K               integer upscale of grid tiles                                           [round(56 / H)]
  --out FILE.npy          the samples, shape [n, H, W, C] for images or [n, D] for vectors
  --engine E              onnx (the network exported to ONNX and run by onnxruntime-node) | tfjs
                                                          [onnx; tfjs when --backend is given]
  --backend B             auto | tensorflow | webgpu | wasm | cpu (tfjs backend; implies tfjs)   [auto]
  --provider P            auto | cuda | dml | webgpu | cpu (onnxruntime execution provider;
                          auto tries them in that order)                                          [auto]
  --db FILE               studio database                          [$DIFFUSION_STUDIO_HOME/studio.db]
  --json                  print a JSON summary
${TRAJECTORY_OUTPUT_HELP}
Image samples (grid and .npy) are clipped to [-1, 1]. Without --grid and --out, image runs write samples.png
and vector runs samples.npy.
`;

/** A grey scatter plot of 2-D points over [-3, 3]^2 (toy sets are about unit variance); darker = denser. */
async function scatterPng(points: Float32Array, n: number): Promise<Buffer> {
  const size = 512;
  const range = 3;
  const hits = new Uint16Array(size * size);
  const toPx = (v: number) => Math.floor(((v + range) / (2 * range)) * size);
  for (let j = 0; j < n; j++) {
    const px = toPx(points[2 * j]);
    const py = size - 1 - toPx(points[2 * j + 1]);
    for (let dy = 0; dy < 2; dy++)
      for (let dx = 0; dx < 2; dx++) {
        const x = px + dx;
        const y = py + dy;
        if (x >= 0 && x < size && y >= 0 && y < size) hits[y * size + x] = Math.min(65535, hits[y * size + x] + 1);
      }
  }
  const data = new Uint8Array(size * size).fill(255);
  for (let i = 0; i < size; i++) data[(size / 2) * size + i] = data[i * size + size / 2] = 215; // the axes
  hits.forEach((h, i) => {
    if (h > 0) data[i] = Math.max(0, 140 - 35 * h);
  });
  return encodePng({ width: size, height: size, channels: 1, data });
}

export async function sampleRunCommand(argv: string[], out: NodeJS.WritableStream): Promise<void> {
  const { values: v } = parseArgs({
    args: argv,
    strict: true,
    allowPositionals: false,
    options: {
      run: { type: 'string' },
      checkpoint: { type: 'string' },
      ema: { type: 'boolean' },
      sampler: { type: 'string' },
      steps: { type: 'string' },
      spacing: { type: 'string' },
      ...SAMPLER_FLAG_OPTIONS,
      n: { type: 'string' },
      'batch-size': { type: 'string' },
      seed: { type: 'string' },
      class: { type: 'string' },
      guidance: { type: 'string' },
      grid: { type: 'string' },
      scale: { type: 'string' },
      out: { type: 'string' },
      engine: { type: 'string' },
      backend: { type: 'string' },
      provider: { type: 'string' },
      ...TRAJECTORY_FLAG_OPTIONS,
      db: { type: 'string' },
      json: { type: 'boolean' },
    },
  });
  if (!v.run) throw new UsageError('--run ID is required (see: diffusion-studio runs)');
  const samplerName = choiceFlag('sampler', v.sampler, SAMPLER_NAMES) ?? 'euler';
  const steps = intFlag('steps', v.steps, 1, 100_000) ?? 50;
  const spacing = choiceFlag('spacing', v.spacing, ['linspace', 'leading', 'trailing'] as const);
  const n = intFlag('n', v.n, 1, 1_000_000) ?? 16;
  const batchSize = Math.min(intFlag('batch-size', v['batch-size'], 1) ?? 64, n);
  const seed = intFlag('seed', v.seed, 0) ?? 0;
  const classFlag = intFlag('class', v.class, 0);
  const guidance = floatFlag('guidance', v.guidance);
  const scaleFlag = intFlag('scale', v.scale, 1, 64);
  const engine = choiceFlag('engine', v.engine, ['tfjs', 'onnx'] as const);
  const backend = choiceFlag('backend', v.backend, ['auto', 'tensorflow', 'webgpu', 'wasm', 'cpu'] as const);
  const provider = choiceFlag('provider', v.provider, ['auto', ...PROVIDER_ORDER] as const);
  if (engine === 'onnx' && v.backend !== undefined) throw new UsageError('--backend applies to --engine tfjs only');
  // Checked before the run is read, so also for imports (which run on onnx anyway): say --engine onnx with it.
  if ((engine === 'tfjs' || v.backend !== undefined) && v.provider !== undefined) {
    throw new UsageError('--provider applies to --engine onnx only');
  }
  if (v.grid !== undefined && !v.grid.toLowerCase().endsWith('.png'))
    throw new UsageError('--grid must name a .png file');
  const pictures = trajectoryOutputs(v);

  const entry = getSampler(samplerName);
  const options = samplerOptionsFromFlags(samplerName, v);

  const paths = studioPaths({ db: v.db });
  const store = openStudioStore(paths.db);
  try {
    const log = (line: string) => out.write(`${line}\n`);
    const model = await openRunEngine(
      store,
      paths,
      {
        run: v.run,
        checkpoint: v.checkpoint,
        ema: v.ema,
        ...(engine ? { engine } : {}),
        ...(backend ? { backend } : {}),
        ...(provider ? { provider } : {}),
      },
      log,
    );
    const { run, checkpoint, numClasses, engineName } = model;
    let samples: Float32Array;
    let nfe: number;
    let trajectory: TrajectoryData | undefined;
    const started = performance.now();
    const shapeOf = model.shape;
    const image = shapeOf.length === 3;
    const dim = shapeOf.reduce((a, b) => a * b, 1);
    const gridPath = v.grid ?? (v.out === undefined && image ? 'samples.png' : undefined);
    const npyPath = v.out ?? (v.grid === undefined && !image ? 'samples.npy' : undefined);
    try {
      if (steps > model.timesteps) {
        throw new UsageError(`--steps (${steps}) cannot exceed the run's ${model.timesteps} timesteps`);
      }
      if (numClasses === 0 && (classFlag !== undefined || guidance !== undefined)) {
        throw new UsageError('--class and --guidance need a conditional run (trained with --cond)');
      }
      if (classFlag !== undefined && classFlag >= numClasses) {
        throw new UsageError(`--class must be in 0..${numClasses - 1} (got ${classFlag})`);
      }
      if (v.grid !== undefined && !image && shapeOf[0] !== 2) {
        throw new UsageError(`--grid draws images or 2-D points; this run's samples have ${shapeOf[0]} values`);
      }
      let grid: NoiseGrid;
      try {
        grid = buildNoiseGrid({
          formulation: 'vp',
          schedule: model.schedule,
          timesteps: model.timesteps,
          steps,
          spacing,
        });
      } catch (e) {
        throw new UsageError((e as Error).message);
      }
      if (pictures) checkDrawable(shapeOf);
      // Only the samples the pictures show are kept: images need the first few, scatters all points.
      const kept = pictures ? (image ? Math.min(n, imageSamplesNeeded(pictures)) : n) : 0;
      if (pictures) {
        trajectory = {
          shape: shapeOf,
          n: kept,
          sigmas: Array.from(grid.sigmas),
          x: new Float32Array((steps + 1) * kept * dim),
          x0: new Float32Array(steps * kept * dim),
        };
      }
      const t = trajectory;
      const onStep = t
        ? (first: number, count: number, info: StepInfo) => {
            // x_t in VP space, as `sample --trajectory` writes it: x / sqrt(1 + sigma^2).
            const scale = 1 / Math.sqrt(1 + info.sigma * info.sigma);
            for (let j = first; j < Math.min(first + count, kept); j++) {
              const dst = (info.i * kept + j) * dim;
              const src = (j - first) * dim;
              for (let d = 0; d < dim; d++) {
                t.x[dst + d] = info.x[src + d] * scale;
                t.x0[dst + d] = info.x0Pred[src + d];
              }
            }
          }
        : undefined;
      const labels = numClasses > 0 ? Int32Array.from({ length: n }, (_, j) => classFlag ?? j % numClasses) : undefined;
      const result = await runChecked(() =>
        sampleInChunks({
          vp: (l) => model.vp(l),
          grid,
          prediction: model.prediction,
          ...(image ? { clipX0: 1 } : {}),
          sampler: entry,
          options,
          n,
          chunk: batchSize,
          seed,
          ...(labels ? { labels, guidance: guidance ?? 1 } : {}),
          ...(onStep ? { onStep } : {}),
        }),
      );
      samples = result.samples;
      nfe = result.nfe;
    } finally {
      await model.release();
    }
    const ms = performance.now() - started;
    if (!samples.every(Number.isFinite)) throw new Error('sampling produced NaN or Inf values');
    if (image) for (let i = 0; i < samples.length; i++) samples[i] = Math.max(-1, Math.min(1, samples[i]));

    const shape = [n, ...shapeOf];
    if (npyPath) await writeNpy(npyPath, samples, shape);
    if (gridPath) {
      const png = image
        ? await imagesToGridPng(samples, n, shape[1], shape[2], shape[3], {
            scale: scaleFlag ?? Math.max(1, Math.round(56 / shape[1])),
          })
        : await scatterPng(samples, n);
      await writeFile(gridPath, png);
    }
    let pictureFiles: string[] = [];
    if (pictures && trajectory) {
      // The last noise level's x is the (clipped) samples themselves.
      trajectory.x.set(samples.subarray(0, trajectory.n * dim), steps * trajectory.n * dim);
      pictureFiles = await writeTrajectoryOutputs(pictures, trajectory, {
        model: checkpoint
          ? { run: run.id, checkpoint: checkpoint.id, step: checkpoint.step, ema: Boolean(v.ema) }
          : { run: run.id, kind: 'import' },
        run: {
          run: run.id,
          checkpoint: checkpoint?.id ?? null,
          checkpointSha256: checkpoint?.sha256 ?? null,
          step: checkpoint?.step ?? null,
          ema: Boolean(v.ema),
        },
        sampler: samplerName,
        options: { ...options, ...guidanceOptions(classFlag, guidance, numClasses) },
        steps,
        seed,
        n,
        sigmas: trajectory.sigmas as number[],
      });
    }
    if (npyPath) {
      store.createSampleSet({
        runId: run.id,
        checkpointId: checkpoint?.id ?? null,
        model: checkpoint
          ? { run: run.id, checkpoint: checkpoint.id, step: checkpoint.step, ema: Boolean(v.ema) }
          : { run: run.id, kind: 'import' },
        sampler: samplerName,
        steps,
        // Only what was asked for: defaults such as s_tmax = Infinity are not JSON.
        options: { ...options, ...guidanceOptions(classFlag, guidance, numClasses) } as JsonObject,
        seed,
        n,
        path: npyPath,
      });
    }

    const summary = {
      run: run.id,
      checkpoint: checkpoint?.id ?? null,
      step: checkpoint?.step ?? null,
      ema: Boolean(v.ema),
      params: model.params,
      backend: engineName,
      sampler: samplerName,
      options: { ...entry.defaults, ...options },
      steps,
      nfe,
      n,
      shape,
      seed,
      ...(numClasses > 0 ? { guidance: guidance ?? 1, class: classFlag ?? null } : {}),
      ms,
      ...(gridPath ? { grid: gridPath } : {}),
      ...(npyPath ? { out: npyPath } : {}),
      ...(pictureFiles.length ? { pictures: pictureFiles } : {}),
    };
    if (v.json) {
      out.write(`${JSON.stringify(summary)}\n`);
      return;
    }
    const what = image ? `${shapeOf.join('x')} images` : `points of ${dim} values`;
    const source = checkpoint
      ? `run ${run.id} step ${checkpoint.step} (${v.ema ? 'EMA' : 'raw'} weights, ${engineName})`
      : `imported run ${run.id} (${engineName})`;
    const files = [gridPath, npyPath, ...pictureFiles].filter(Boolean).join(', ');
    out.write(
      `${entry.label}: ${n} ${what} from ${source}, ${steps} steps, ${nfe} model evaluations per sample, ${(ms / 1000).toFixed(1)} s -> ${files}\n`,
    );
  } finally {
    store.close();
  }
}

/** Recorded with the sample set: class -1 means the classes in turn. */
function guidanceOptions(classFlag: number | undefined, guidance: number | undefined, numClasses: number) {
  return numClasses > 0 ? { guidance: guidance ?? 1, class: classFlag ?? -1 } : {};
}
