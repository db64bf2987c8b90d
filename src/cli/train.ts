/**
 * `diffusion-studio train`: validate the flags into a TrainConfig, create the run row, and train it in this process
 * (runTraining, shared with `resume`): throttled progress lines, checkpoint notes, preview PNGs, and a clean stop on
 * SIGINT/SIGTERM that writes a checkpoint first.
 */
import { existsSync, mkdirSync, statSync, writeFileSync } from 'node:fs';
import { basename, join, resolve } from 'node:path';
import { parseArgs } from 'node:util';
import { CheckpointManager } from '../checkpoint/manager.ts';
import { openDataset, type Dataset } from '../data/dataset.ts';
import { isToyName, TOY_NAMES } from '../data/toy2d.ts';
import { BACKEND_ORDER, selectBackend, type BackendName } from '../engines/tfjs/backend.ts';
import { imagesToGridPng } from '../io/png.ts';
import type { Store } from '../store/store.ts';
import type { JsonObject, Run } from '../store/types.ts';
import { resolveTrainConfig, type TrainConfig } from '../train/config.ts';
import { datasetSpec, modelFor, trainRun } from '../train/trainer.ts';
import { UsageError } from './errors.ts';
import { choiceFlag, floatFlag, intFlag } from './options.ts';
import { formatBytes, formatLoss, ProgressPrinter } from './progress-line.ts';
import {
  acquireLock,
  dbHint,
  openStudioStore,
  studioPaths,
  toUsage,
  usageErrors,
  usageErrorsAsync,
  type StudioPaths,
} from './studio-paths.ts';

export const TRAIN_HELP = `Usage: diffusion-studio train --data DATA [options]

Data
  --data D                fashion-mnist | mnist | cifar10 | toy:<name> | <image folder>
                          (toy sets: ${TOY_NAMES.join(', ')})
  --data-dir DIR          folder holding the IDX / CIFAR-10 binary files (required for mnist and cifar10;
                          fashion-mnist defaults to /usr/share/datasets/fashion-mnist)
  --image-size N --channels 1|3   image folders: square side after centre crop, grey or RGB       [32, 3]
  --toy-size N            points in a toy set                                                     [10000]
  --hflip                 random horizontal flips (images)
Model and diffusion
  --preset tiny|small|base   U-Net for images, residual MLP for toy sets                          [tiny]
  --objective eps|x0|v    what the network predicts                                               [eps]
  --schedule linear|cosine   beta schedule                                                        [linear]
  --timesteps T           diffusion timesteps                                                     [1000]
  --learned-variance      improved-DDPM learned-range variance (hybrid loss)
  --cond                  class-conditional, labels dropped with --label-dropout for guidance
  --label-dropout P       probability of the null class in training                               [0.1]
Optimization
  --batch B --steps N     batch size and number of steps                                          [32, 1000]
  --lr X                  learning rate                                                           [2e-4]
  --optimizer adam|adamw  --weight-decay X                                                        [adamw, 0]
  --warmup N              linear warmup steps; --lr-decay constant|cosine                         [0, constant]
  --grad-clip X           global gradient-norm clip, 0 = off                                      [1]
  --ema DECAY             EMA of the weights                                                      [0.999]
  --seed S                everything random derives from it                                       [0]
Checkpoints and output
  --checkpoint-every K    checkpoint every K steps (and at the end, and on Ctrl-C)                [500]
  --keep K                keep the newest K checkpoints                                           [3]
  --preview-every K       preview grid every K steps besides checkpoints, 0 = at checkpoints only [0]
  --preview-count N --preview-steps N   preview samples and DDIM steps                            [16, 20]
  --engine onnx|tfjs      onnx: the whole step compiled to one ONNX graph on onnxruntime          [onnx]
                          (cuda, dml, webgpu or cpu, the first that works); tfjs: eager tfjs
                          on --backend
  --backend auto|tensorflow|webgpu|wasm|cpu   tfjs backend (auto: best available)                 [auto]
  --name NAME             run name                                                                [dataset preset]
  --db FILE               studio database                          [$DIFFUSION_STUDIO_HOME/studio.db]
  --out DIR               run folders (checkpoints, previews)      [$DIFFUSION_STUDIO_HOME/runs]

Ctrl-C (SIGINT) or SIGTERM stops after the current step with a checkpoint; continue with
diffusion-studio resume --run ID. Preview grids go to <out>/<run id>/previews/step-<N>.png (image data).
The data dir is $DIFFUSION_STUDIO_HOME, else ~/.diffusion-studio.
`;

const NAMED_DATA = ['fashion-mnist', 'mnist', 'cifar10'] as const;

/** The files a run keeps beside its checkpoints: what `sample` needs to rebuild the model without the data. */
export const DATASET_INFO_FILE = 'dataset.json';

export interface DatasetInfo {
  name: string;
  shape: number[];
  numClasses: number;
  classNames?: string[];
}

function isDir(path: string): boolean {
  return existsSync(path) && statSync(path).isDirectory();
}

/** --data and its companions as the config's data object (paths absolute: a run may be resumed from elsewhere). */
function dataFlags(v: Record<string, string | boolean | undefined>): TrainConfig['data'] {
  const d = v.data as string | undefined;
  if (!d) throw new UsageError('--data is required: fashion-mnist, mnist, cifar10, toy:<name> or an image folder');
  const dataDir = v['data-dir'] as string | undefined;
  const imageSize = intFlag('image-size', v['image-size'] as string | undefined, 4, 512);
  const channels = choiceFlag('channels', v.channels as string | undefined, ['1', '3'] as const);
  const toySize = intFlag('toy-size', v['toy-size'] as string | undefined, 16);
  const only = (flag: string, given: unknown, what: string) => {
    if (given !== undefined) throw new UsageError(`--${flag} applies to ${what} only`);
  };
  const isNamed = (NAMED_DATA as readonly string[]).includes(d);
  const isToy = d === 'toy' || d.startsWith('toy:');
  if (!isToy) only('toy-size', toySize, 'toy sets');
  if (isNamed || isToy) {
    only('image-size', imageSize, 'image folders');
    only('channels', channels, 'image folders');
  }
  if (isToy) {
    only('data-dir', dataDir, 'fashion-mnist, mnist and cifar10');
    const toy = d.slice(4) || 'ring';
    if (!isToyName(toy)) throw new UsageError(`unknown toy set "${toy}"; known: ${TOY_NAMES.join(', ')}`);
    return { kind: 'toy', toy, ...(toySize !== undefined ? { toySize } : {}) };
  }
  if (isNamed) {
    const kind = d as (typeof NAMED_DATA)[number];
    if (!dataDir && kind !== 'fashion-mnist') {
      throw new UsageError(`--data ${kind} needs --data-dir DIR, the folder holding its files`);
    }
    if (dataDir && !isDir(dataDir)) throw new UsageError(`--data-dir ${dataDir} is not a folder`);
    return { kind, ...(dataDir ? { dir: resolve(dataDir) } : {}) };
  }
  only('data-dir', dataDir, 'fashion-mnist, mnist and cifar10 (an image folder is --data itself)');
  if (!isDir(d)) {
    throw new UsageError(
      `--data "${d}" is neither a known dataset (${NAMED_DATA.join(', ')}, toy:<name>) nor an existing folder`,
    );
  }
  return {
    kind: 'folder',
    dir: resolve(d),
    ...(imageSize !== undefined ? { imageSize } : {}),
    ...(channels !== undefined ? { channels: Number(channels) as 1 | 3 } : {}),
  };
}

/** The short dataset label stored on the run row and shown by `runs`. */
export function datasetLabel(data: TrainConfig['data']): string {
  if (data.kind === 'toy') return `toy:${data.toy}`;
  if (data.kind === 'folder') return `folder:${basename(data.dir ?? '')}`;
  return data.kind;
}

function configFromFlags(v: Record<string, string | boolean | undefined>): TrainConfig {
  const s = (k: string) => v[k] as string | undefined;
  const positive = (x: number) => (x > 0 ? null : 'must be positive');
  const nonNegative = (x: number) => (x >= 0 ? null : 'must be >= 0');
  const raw: Record<string, unknown> = {
    data: dataFlags(v),
    preset: choiceFlag('preset', s('preset'), ['tiny', 'small', 'base'] as const),
    objective: choiceFlag('objective', s('objective'), ['eps', 'x0', 'v'] as const),
    schedule: choiceFlag('schedule', s('schedule'), ['linear', 'cosine'] as const),
    timesteps: intFlag('timesteps', s('timesteps'), 21, 100_000),
    learnedVariance: v['learned-variance'],
    conditional: v.cond,
    labelDropout: floatFlag('label-dropout', s('label-dropout'), (x) =>
      x >= 0 && x <= 1 ? null : 'must be in [0, 1]',
    ),
    batchSize: intFlag('batch', s('batch'), 1, 65_536),
    steps: intFlag('steps', s('steps'), 1),
    optimizer: choiceFlag('optimizer', s('optimizer'), ['adam', 'adamw'] as const),
    lr: floatFlag('lr', s('lr'), positive),
    weightDecay: floatFlag('weight-decay', s('weight-decay'), nonNegative),
    warmupSteps: intFlag('warmup', s('warmup'), 0),
    lrDecay: choiceFlag('lr-decay', s('lr-decay'), ['constant', 'cosine'] as const),
    gradClip: floatFlag('grad-clip', s('grad-clip'), nonNegative),
    emaDecay: floatFlag('ema', s('ema'), (x) => (x >= 0 && x <= 1 ? null : 'must be in [0, 1]')),
    hflip: v.hflip,
    seed: intFlag('seed', s('seed'), 0),
    checkpointEvery: intFlag('checkpoint-every', s('checkpoint-every'), 1),
    keepLast: intFlag('keep', s('keep'), 1),
    previewEvery: intFlag('preview-every', s('preview-every'), 0),
    previewCount: intFlag('preview-count', s('preview-count'), 1, 256),
    previewSteps: intFlag('preview-steps', s('preview-steps'), 1, 1000),
    backend: choiceFlag('backend', s('backend'), ['auto', 'tensorflow', 'webgpu', 'wasm', 'cpu'] as const),
    engine: choiceFlag('engine', s('engine'), ['tfjs', 'onnx'] as const),
  };
  for (const k of Object.keys(raw)) if (raw[k] === undefined) delete raw[k];
  return usageErrors(() => resolveTrainConfig(raw));
}

/** Everything that can be wrong with the data before a run row exists: unreadable files, labels, batch size, model. */
async function checkData(config: TrainConfig): Promise<Dataset> {
  const dataset = await usageErrorsAsync(() => openDataset(datasetSpec(config)));
  if (config.conditional && dataset.numClasses === 0) {
    throw new UsageError(`--cond needs class labels, and ${dataset.name} has none`);
  }
  if (dataset.size < config.batchSize) {
    throw new UsageError(
      `${dataset.name} holds ${dataset.size} examples, fewer than one batch (--batch ${config.batchSize})`,
    );
  }
  usageErrors(() => modelFor(config, dataset));
  return dataset;
}

export async function selectEngine(config: TrainConfig): Promise<string> {
  const preference: readonly BackendName[] = config.backend === 'auto' ? BACKEND_ORDER : [config.backend];
  try {
    // Previews sample with tfjs on either engine; the onnx engine records its provider once its session exists.
    const tfjsBackend = (await selectBackend(preference)).name;
    return config.engine === 'onnx' ? 'onnx' : `tfjs-${tfjsBackend}`;
  } catch (e) {
    if (config.backend === 'auto') throw e;
    const why = (e as Error).message.replace(/^no tfjs backend could be used: \w+: /, '');
    throw new UsageError(`--backend ${config.backend} cannot be used here: ${why}`);
  }
}

export async function trainCommand(argv: string[], out: NodeJS.WritableStream): Promise<number> {
  const { values: v } = parseArgs({
    args: argv,
    strict: true,
    allowPositionals: false,
    options: {
      data: { type: 'string' },
      'data-dir': { type: 'string' },
      'image-size': { type: 'string' },
      channels: { type: 'string' },
      'toy-size': { type: 'string' },
      hflip: { type: 'boolean' },
      preset: { type: 'string' },
      objective: { type: 'string' },
      schedule: { type: 'string' },
      timesteps: { type: 'string' },
      'learned-variance': { type: 'boolean' },
      cond: { type: 'boolean' },
      'label-dropout': { type: 'string' },
      batch: { type: 'string' },
      steps: { type: 'string' },
      lr: { type: 'string' },
      optimizer: { type: 'string' },
      'weight-decay': { type: 'string' },
      warmup: { type: 'string' },
      'lr-decay': { type: 'string' },
      'grad-clip': { type: 'string' },
      ema: { type: 'string' },
      seed: { type: 'string' },
      'checkpoint-every': { type: 'string' },
      keep: { type: 'string' },
      'preview-every': { type: 'string' },
      'preview-count': { type: 'string' },
      'preview-steps': { type: 'string' },
      backend: { type: 'string' },
      engine: { type: 'string' },
      name: { type: 'string' },
      db: { type: 'string' },
      out: { type: 'string' },
    },
  });
  const config = configFromFlags(v);
  if (v.name !== undefined && v.name.trim() === '') throw new UsageError('--name must not be empty');
  const paths = studioPaths({ db: v.db, out: v.out });
  const dataset = await checkData(config);
  const engine = await selectEngine(config);

  const store = openStudioStore(paths.db);
  try {
    const label = datasetLabel(config.data);
    const run = store.createRun({
      name: v.name ?? `${label} ${config.preset}`,
      kind: 'train',
      config: config as unknown as JsonObject,
      dataset: label,
      preset: config.preset,
      engine,
    });
    const runDir = join(paths.runs, run.id);
    let release: () => void;
    try {
      release = acquireLock(runDir, run.id);
      const info: DatasetInfo = {
        name: dataset.name,
        shape: [...dataset.shape],
        numClasses: dataset.numClasses,
        ...(dataset.classNames ? { classNames: [...dataset.classNames] } : {}),
      };
      writeFileSync(join(runDir, DATASET_INFO_FILE), `${JSON.stringify(info, null, 2)}\n`);
    } catch (e) {
      store.updateRunStatus(run.id, 'failed', (e as Error).message);
      throw new UsageError(`cannot use --out ${paths.runs}: ${(e as Error).message}`);
    }
    return await runTraining({ store, paths, run, config, resume: false, out, release });
  } finally {
    store.close();
  }
}

/**
 * Trains (or resumes) one run in this process until it completes or a signal stops it; returns the exit status:
 * 0 completed, 130 stopped by SIGINT/SIGTERM (after a checkpoint). `release` drops the run's lock file.
 */
export async function runTraining(args: {
  store: Store;
  paths: StudioPaths;
  run: Run;
  config: TrainConfig;
  resume: boolean;
  out: NodeJS.WritableStream;
  release: () => void;
}): Promise<number> {
  const { store, paths, run, config, out } = args;
  const write = (line: string) => out.write(`${line}\n`);
  const checkpoints = new CheckpointManager(store, paths.runs);
  const previews = join(checkpoints.runDir(run.id), 'previews');
  const hint = dbHint(paths);
  const progress = new ProgressPrinter(write);

  let stopSignal: string | null = null;
  const onSignal = (signal: NodeJS.Signals) => {
    if (stopSignal) {
      write(
        `${signal} again: quitting now; resume from the last checkpoint: diffusion-studio resume --run ${run.id}${hint}`,
      );
      // Between steps (signals arrive only then), so this write cannot interleave with the trainer's.
      store.updateRunStatus(run.id, 'interrupted', `quit by a second ${signal} before its stop checkpoint`);
      args.release();
      process.exit(130);
    }
    stopSignal = signal;
    write(`${signal}: stopping after this step with a checkpoint (again to quit at once)`);
  };
  process.on('SIGINT', onSignal);
  process.on('SIGTERM', onSignal);

  const image = config.data.kind !== 'toy';
  try {
    const outcome = await trainRun({
      store,
      checkpoints,
      runId: run.id,
      config,
      resume: args.resume,
      // Steps are synchronous tfjs work; Node delivers signals only when the event loop gets a turn.
      yieldBetweenSteps: () => new Promise<void>((r) => setImmediate(r)),
      hooks: {
        control: () => (stopSignal ? 'stop' : 'run'),
        onLog: (line) => {
          // The checkpoint note is printed richer by onCheckpoint; 'auto' probing failures are expected noise.
          if (/^checkpoint at step \d+$/.test(line)) return;
          if (config.backend === 'auto' && /^backend \w+ unavailable:/.test(line)) return;
          write(/^\w+ model, [\d,]+ parameters/.test(line) ? `run ${run.id} "${run.name}": ${line}` : line);
        },
        onProgress: (p) => progress.report(p),
        onCheckpoint: (c) => write(`checkpoint at step ${c.step}: ${c.path} (${formatBytes(c.bytes)})`),
        ...(image
          ? {
              onPreview: async (p) => {
                const [h, w, c] = p.shape;
                // Small images get a nearest-neighbour upscale so a 28px grid is visible at a glance.
                const png = await imagesToGridPng(p.samples, p.count, h, w, c, {
                  scale: Math.max(1, Math.round(56 / h)),
                });
                mkdirSync(previews, { recursive: true });
                const file = join(previews, `step-${p.step}.png`);
                writeFileSync(file, png);
                write(`preview at step ${p.step}: ${file}`);
              },
            }
          : {}),
      },
    });
    if (outcome.status === 'stopped') {
      write(
        `stopped at step ${outcome.step}/${config.steps} with a checkpoint; continue with: ` +
          `diffusion-studio resume --run ${run.id}${hint}`,
      );
      return 130;
    }
    write(`run ${run.id} completed ${outcome.step} steps, last loss ${formatLoss(outcome.lastLoss)}`);
    write(`  sample:        diffusion-studio sample --run ${run.id} --ema --grid samples.png${hint}`);
    write(`  train further: diffusion-studio resume --run ${run.id} --steps ${2 * config.steps}${hint}`);
    return 0;
  } catch (e) {
    throw toUsage(e);
  } finally {
    process.off('SIGINT', onSignal);
    process.off('SIGTERM', onSignal);
    args.release();
  }
}
