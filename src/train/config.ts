/**
 * A training run's configuration: everything needed to reproduce it, stored with the run and in every checkpoint.
 * `resolveTrainConfig` fills defaults and rejects bad values with messages that name the field.
 */
import type { Prediction } from '../core/parameterization.ts';
import { isToyName, TOY_NAMES, type ToyName } from '../data/toy2d.ts';

export type DataKind = 'fashion-mnist' | 'mnist' | 'cifar10' | 'folder' | 'toy';
export type PresetName = 'tiny' | 'small' | 'base';
export type BackendPreference = 'auto' | 'tensorflow' | 'webgpu' | 'wasm' | 'cpu';
/** tfjs: eager training on a tfjs backend; onnx: the whole step compiled to one ONNX graph run by onnxruntime. */
export type TrainEngineName = 'tfjs' | 'onnx';

export interface TrainConfig {
  data: {
    kind: DataKind;
    /** Where the files are (fashion-mnist defaults to Debian's /usr/share/datasets/fashion-mnist). */
    dir?: string;
    /** Image folders: side of the square crop. */
    imageSize?: number;
    /** Image folders: 1 (grey) or 3 (RGB). */
    channels?: 1 | 3;
    /** 2-D toy set name, and how many points it holds. */
    toy?: ToyName;
    toySize?: number;
  };
  preset: PresetName;
  objective: Prediction;
  schedule: 'linear' | 'cosine';
  timesteps: number;
  learnedVariance: boolean;
  /** Class-conditional with a null class, for classifier-free guidance. */
  conditional: boolean;
  /** Probability that a label is replaced by the null class during training. */
  labelDropout: number;
  batchSize: number;
  steps: number;
  optimizer: 'adam' | 'adamw';
  lr: number;
  weightDecay: number;
  beta1: number;
  beta2: number;
  warmupSteps: number;
  lrDecay: 'constant' | 'cosine';
  /** Global gradient-norm clip; 0 disables. */
  gradClip: number;
  emaDecay: number;
  emaWarmup: boolean;
  hflip: boolean;
  seed: number;
  checkpointEvery: number;
  /** Keep the newest K checkpoints (plus pinned ones). */
  keepLast: number;
  /** Preview samples from fixed noise every K steps (0: only at checkpoints). */
  previewEvery: number;
  previewCount: number;
  previewSteps: number;
  /** tfjs backend (training with engine tfjs; previews with either engine). */
  backend: BackendPreference;
  engine: TrainEngineName;
}

export const TRAIN_DEFAULTS: Omit<TrainConfig, 'data'> = {
  preset: 'tiny',
  objective: 'eps',
  schedule: 'linear',
  timesteps: 1000,
  learnedVariance: false,
  conditional: false,
  labelDropout: 0.1,
  batchSize: 32,
  steps: 1000,
  optimizer: 'adamw',
  lr: 2e-4,
  weightDecay: 0,
  beta1: 0.9,
  beta2: 0.999,
  warmupSteps: 0,
  lrDecay: 'constant',
  gradClip: 1,
  emaDecay: 0.999,
  emaWarmup: true,
  hflip: false,
  seed: 0,
  checkpointEvery: 500,
  keepLast: 3,
  previewEvery: 0,
  previewCount: 16,
  previewSteps: 20,
  backend: 'auto',
  // The compiled ONNX step is ~5x faster than tfjs-wasm on the tiny preset and trains presets tfjs-wasm cannot fit.
  engine: 'onnx',
};

export class ConfigError extends Error {
  override name = 'ConfigError';
}

const DATA_KINDS: readonly DataKind[] = ['fashion-mnist', 'mnist', 'cifar10', 'folder', 'toy'];

function check(ok: boolean, message: string): asserts ok {
  if (!ok) throw new ConfigError(message);
}

function oneOf<T extends string>(field: string, v: unknown, choices: readonly T[]): T {
  check(
    typeof v === 'string' && (choices as readonly string[]).includes(v),
    `${field} must be one of ${choices.join(', ')} (got ${JSON.stringify(v)})`,
  );
  return v as T;
}

function int(field: string, v: unknown, min: number, max = Number.MAX_SAFE_INTEGER): number {
  check(
    typeof v === 'number' && Number.isInteger(v) && v >= min && v <= max,
    `${field} must be an integer in ${min}..${max} (got ${JSON.stringify(v)})`,
  );
  return v as number;
}

function num(field: string, v: unknown, min: number, max: number, openMin = false): number {
  const ok = typeof v === 'number' && Number.isFinite(v) && (openMin ? v > min : v >= min) && v <= max;
  check(ok, `${field} must be a number in ${openMin ? '(' : '['}${min}, ${max}] (got ${JSON.stringify(v)})`);
  return v as number;
}

function bool(field: string, v: unknown): boolean {
  check(typeof v === 'boolean', `${field} must be true or false (got ${JSON.stringify(v)})`);
  return v as boolean;
}

/** Defaults filled in, every field checked. Unknown fields are errors (a typo must not silently do nothing). */
export function resolveTrainConfig(raw: unknown): TrainConfig {
  check(!!raw && typeof raw === 'object', 'training config must be an object');
  const input = raw as Record<string, unknown>;
  const known = new Set(['data', ...Object.keys(TRAIN_DEFAULTS)]);
  for (const key of Object.keys(input)) check(known.has(key), `unknown training option "${key}"`);
  const c = { ...TRAIN_DEFAULTS, ...input } as Record<string, unknown>;

  check(!!c.data && typeof c.data === 'object', 'data must be an object such as {"kind": "fashion-mnist"}');
  const d = c.data as Record<string, unknown>;
  const data: TrainConfig['data'] = { kind: oneOf('data.kind', d.kind, DATA_KINDS) };
  if (d.dir !== undefined) {
    check(typeof d.dir === 'string' && d.dir.length > 0, 'data.dir must be a path');
    data.dir = d.dir as string;
  }
  if (data.kind === 'folder') check(!!data.dir, 'data.dir is required for an image folder');
  if ((data.kind === 'mnist' || data.kind === 'cifar10') && !data.dir) {
    throw new ConfigError(`data.dir is required for ${data.kind} (the folder holding its files)`);
  }
  if (d.imageSize !== undefined) data.imageSize = int('data.imageSize', d.imageSize, 4, 512);
  if (d.channels !== undefined) {
    check(d.channels === 1 || d.channels === 3, `data.channels must be 1 or 3 (got ${JSON.stringify(d.channels)})`);
    data.channels = d.channels;
  }
  if (data.kind === 'toy') {
    const toy = String(d.toy ?? 'ring');
    check(isToyName(toy), `data.toy must be one of ${TOY_NAMES.join(', ')} (got ${JSON.stringify(toy)})`);
    data.toy = toy;
    data.toySize = d.toySize === undefined ? 10_000 : int('data.toySize', d.toySize, 16, 10_000_000);
  }

  const config: TrainConfig = {
    data,
    preset: oneOf('preset', c.preset, ['tiny', 'small', 'base'] as const),
    objective: oneOf('objective', c.objective, ['eps', 'x0', 'v'] as const),
    schedule: oneOf('schedule', c.schedule, ['linear', 'cosine'] as const),
    timesteps: int('timesteps', c.timesteps, 21, 100_000),
    learnedVariance: bool('learnedVariance', c.learnedVariance),
    conditional: bool('conditional', c.conditional),
    labelDropout: num('labelDropout', c.labelDropout, 0, 1),
    batchSize: int('batchSize', c.batchSize, 1, 65_536),
    steps: int('steps', c.steps, 1),
    optimizer: oneOf('optimizer', c.optimizer, ['adam', 'adamw'] as const),
    lr: num('lr', c.lr, 0, 10, true),
    weightDecay: num('weightDecay', c.weightDecay, 0, 10),
    beta1: num('beta1', c.beta1, 0, 0.999999),
    beta2: num('beta2', c.beta2, 0, 0.999999),
    warmupSteps: int('warmupSteps', c.warmupSteps, 0),
    lrDecay: oneOf('lrDecay', c.lrDecay, ['constant', 'cosine'] as const),
    gradClip: num('gradClip', c.gradClip, 0, 1e6),
    emaDecay: num('emaDecay', c.emaDecay, 0, 1),
    emaWarmup: bool('emaWarmup', c.emaWarmup),
    hflip: bool('hflip', c.hflip),
    seed: int('seed', c.seed, 0),
    checkpointEvery: int('checkpointEvery', c.checkpointEvery, 1),
    keepLast: int('keepLast', c.keepLast, 1),
    previewEvery: int('previewEvery', c.previewEvery, 0),
    previewCount: int('previewCount', c.previewCount, 1, 256),
    previewSteps: int('previewSteps', c.previewSteps, 1, 1000),
    backend: oneOf('backend', c.backend, ['auto', 'tensorflow', 'webgpu', 'wasm', 'cpu'] as const),
    engine: oneOf('engine', c.engine, ['tfjs', 'onnx'] as const),
  };
  check(!(config.hflip && data.kind === 'toy'), 'hflip applies to images, not to 2-D toy data');
  return config;
}
