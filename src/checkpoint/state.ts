/**
 * A training state as one self-describing safetensors file, and back.
 *
 * Tensors (all F32, shapes from `shapes`): `model.<param>`, `ema.<param>`, `optimizer.m.<param>`,
 * `optimizer.v.<param>`. A PyTorch user gets a state_dict by loading the `model.` tensors and stripping the prefix.
 *
 * Everything else is `__metadata__` (string values, as the format requires): `format`, `format_version`, `backend`
 * and `payload_sha256` as plain strings; `step`, `ema` (true/false), `optimizer` ({kind, step}), `lr`, `rng`, `data`,
 * `config`, `versions` and `metrics` as JSON. `payload_sha256` is the SHA-256 of the data buffer, so a file verifies
 * itself without the database (which holds the whole-file hash as well).
 */
import { createHash } from 'node:crypto';
import { assertJson } from '../store/json.ts';
import { decodeSafetensors, encodeSafetensors, type EncodableTensor } from './safetensors.ts';

export interface TrainingState {
  step: number;
  weights: Map<string, Float32Array>;
  ema: Map<string, Float32Array> | null;
  optimizer: { kind: 'adam' | 'adamw'; step: number; m: Map<string, Float32Array>; v: Map<string, Float32Array> };
  /** Canonical shape of every parameter (the arrays are flat, C order). */
  shapes: Map<string, number[]>;
  lr: { current: number; [k: string]: number };
  /** Positions of every random stream, e.g. Philox keys and counters. */
  rng: Record<string, number | number[]>;
  data: { epoch: number; index: number };
  /** The run's full config (plain JSON). */
  config: unknown;
  backend: string;
  versions: Record<string, string>;
  /** Latest training metrics; a non-finite value is stored as null and read back as NaN. */
  metrics?: Record<string, number>;
}

export const CHECKPOINT_FORMAT = 'diffusion-studio-checkpoint';
export const CHECKPOINT_FORMAT_VERSION = 1;

const OPTIMIZER_KINDS = ['adam', 'adamw'] as const;
const PREFIX = { model: 'model.', ema: 'ema.', m: 'optimizer.m.', v: 'optimizer.v.' } as const;

/**
 * The bytes are not a checkpoint this build can use. `unsupported` marks a well-formed file from a newer format
 * version (not damage).
 */
export class CheckpointFormatError extends Error {
  override readonly name = 'CheckpointFormatError';
  constructor(
    message: string,
    readonly unsupported = false,
  ) {
    super(message);
  }
}

export function sha256Hex(bytes: Uint8Array): string {
  return createHash('sha256').update(bytes).digest('hex');
}

// ---- encoding ----

const isCount = (v: unknown): v is number => typeof v === 'number' && Number.isSafeInteger(v) && v >= 0;

function count(shape: readonly number[]): number {
  return shape.reduce((a, b) => a * b, 1);
}

/** Throws a TypeError naming the field: a state the trainer built wrong is a bug, not a disk problem. */
function checkState(s: TrainingState): void {
  const fail = (what: string) => {
    throw new TypeError(`invalid training state: ${what}`);
  };
  if (!isCount(s.step)) fail(`step ${s.step} is not a non-negative integer`);
  if (!OPTIMIZER_KINDS.includes(s.optimizer.kind)) fail(`optimizer kind ${String(s.optimizer.kind)} is unknown`);
  if (!isCount(s.optimizer.step)) fail(`optimizer step ${s.optimizer.step} is not a non-negative integer`);
  if (!isCount(s.data.epoch) || !isCount(s.data.index)) fail('data position must be non-negative integers');
  if (typeof s.backend !== 'string') fail('backend must be a string');
  if (!Number.isFinite(s.lr.current)) fail(`lr.current is ${s.lr.current}`);
  for (const [name, w] of s.weights) {
    if (name === '') fail('a parameter has an empty name');
    const shape = s.shapes.get(name);
    if (shape === undefined) fail(`parameter '${name}' has no shape`);
    else if (!shape.every(isCount) || count(shape) !== w.length) {
      fail(`parameter '${name}' has ${w.length} values but shape [${shape.join(', ')}]`);
    }
  }
  for (const name of s.shapes.keys()) if (!s.weights.has(name)) fail(`shape given for unknown parameter '${name}'`);
  const sameLengths = (what: string, map: Map<string, Float32Array>, all: boolean) => {
    if (all && map.size !== s.weights.size) fail(`${what} has ${map.size} tensors for ${s.weights.size} parameters`);
    for (const [name, t] of map) {
      const w = s.weights.get(name);
      if (w === undefined) fail(`${what} has unknown parameter '${name}'`);
      else if (t.length !== w.length) fail(`${what} '${name}' has ${t.length} values, the parameter ${w.length}`);
    }
  };
  if (s.ema !== null) sameLengths('ema', s.ema, true);
  // Moments may cover a subset (frozen parameters have none), but m and v always cover the same one.
  sameLengths('optimizer.m', s.optimizer.m, false);
  sameLengths('optimizer.v', s.optimizer.v, false);
  for (const name of s.optimizer.m.keys()) if (!s.optimizer.v.has(name)) fail(`optimizer.v lacks '${name}'`);
  if (s.optimizer.m.size !== s.optimizer.v.size) fail('optimizer.m and optimizer.v cover different parameters');
}

function json(value: unknown, what: string): string {
  try {
    assertJson(value, what);
  } catch (err) {
    throw new TypeError(`invalid training state: ${(err as Error).message}`);
  }
  return JSON.stringify(value);
}

/** Serializes a training state; bit-exact (the Float32 bytes are copied, never converted). */
export function encodeTrainingState(state: TrainingState): Uint8Array {
  checkState(state);
  const tensors: Record<string, EncodableTensor> = {};
  const add = (prefix: string, map: Map<string, Float32Array>) => {
    for (const [name, data] of map) tensors[prefix + name] = { dtype: 'F32', shape: state.shapes.get(name)!, data };
  };
  add(PREFIX.model, state.weights);
  if (state.ema !== null) add(PREFIX.ema, state.ema);
  add(PREFIX.m, state.optimizer.m);
  add(PREFIX.v, state.optimizer.v);

  const metrics =
    state.metrics &&
    Object.fromEntries(Object.entries(state.metrics).map(([k, v]) => [k, Number.isFinite(v) ? v : null]));
  const metadata: Record<string, string> = {
    format: CHECKPOINT_FORMAT,
    format_version: String(CHECKPOINT_FORMAT_VERSION),
    step: String(state.step),
    ema: String(state.ema !== null),
    optimizer: json({ kind: state.optimizer.kind, step: state.optimizer.step }, 'optimizer'),
    lr: json(state.lr, 'lr'),
    rng: json(state.rng, 'rng'),
    data: json({ epoch: state.data.epoch, index: state.data.index }, 'data'),
    config: json(state.config ?? null, 'config'),
    backend: state.backend,
    versions: json(state.versions, 'versions'),
  };
  if (metrics) metadata.metrics = json(metrics, 'metrics');
  return encodeSafetensors(tensors, (payload) => ({ ...metadata, payload_sha256: sha256Hex(payload) }));
}

// ---- decoding ----

function bad(problem: string): never {
  throw new CheckpointFormatError(problem);
}

function field(meta: Record<string, string>, key: string): string {
  const value = meta[key];
  if (value === undefined) bad(`metadata '${key}' is missing`);
  return value;
}

function jsonField(meta: Record<string, string>, key: string): unknown {
  const text = field(meta, key);
  try {
    return JSON.parse(text);
  } catch {
    return bad(`metadata '${key}' is not valid JSON`);
  }
}

function isRecord(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

function recordOf<T>(v: unknown, ok: (x: unknown) => x is T, key: string): Record<string, T> {
  if (!isRecord(v) || !Object.values(v).every(ok)) bad(`metadata '${key}' has the wrong shape`);
  return v as Record<string, T>;
}

const isNumber = (x: unknown): x is number => typeof x === 'number';
const isString = (x: unknown): x is string => typeof x === 'string';
const isRngValue = (x: unknown): x is number | number[] => isNumber(x) || (Array.isArray(x) && x.every(isNumber));

/**
 * Parses and verifies checkpoint bytes: the safetensors structure, the format and its version, the payload
 * checksum, and that the tensors and metadata form a complete state. Throws CheckpointFormatError.
 */
export function decodeTrainingState(bytes: Uint8Array): TrainingState {
  let file;
  try {
    file = decodeSafetensors(bytes);
  } catch (err) {
    return bad((err as Error).message);
  }
  const meta = file.metadata;
  if (meta.format !== CHECKPOINT_FORMAT) {
    bad(`not a Diffusion Studio checkpoint (metadata format is ${JSON.stringify(meta.format ?? null)})`);
  }
  const version = field(meta, 'format_version');
  if (!/^[1-9][0-9]{0,8}$/.test(version)) bad(`format_version '${version}' is not a version number`);
  if (Number(version) > CHECKPOINT_FORMAT_VERSION) {
    throw new CheckpointFormatError(
      `it has checkpoint format ${version}, newer than this build reads (${CHECKPOINT_FORMAT_VERSION}); ` +
        'update Diffusion Studio to load it',
      true,
    );
  }
  const expected = field(meta, 'payload_sha256');
  const actual = sha256Hex(bytes.subarray(file.dataOffset));
  if (expected !== actual) bad(`payload checksum mismatch (header says ${expected}, data hashes to ${actual})`);

  const step = Number(field(meta, 'step'));
  if (!/^[0-9]+$/.test(meta.step) || !isCount(step)) bad(`metadata 'step' '${meta.step}' is not a step number`);
  const hasEma = field(meta, 'ema');
  if (hasEma !== 'true' && hasEma !== 'false') bad(`metadata 'ema' '${hasEma}' is not true or false`);
  const opt = jsonField(meta, 'optimizer');
  if (!isRecord(opt) || !OPTIMIZER_KINDS.includes(opt.kind as never) || !isCount(opt.step)) {
    bad(`metadata 'optimizer' has the wrong shape`);
  }
  const lr = recordOf(jsonField(meta, 'lr'), isNumber, 'lr');
  if (!isNumber(lr.current)) bad(`metadata 'lr' has no current learning rate`);
  const data = jsonField(meta, 'data');
  if (!isRecord(data) || !isCount(data.epoch) || !isCount(data.index)) bad(`metadata 'data' has the wrong shape`);
  const metrics =
    meta.metrics === undefined
      ? undefined
      : Object.fromEntries(
          Object.entries(recordOf(jsonField(meta, 'metrics'), (x) => x === null || isNumber(x), 'metrics')).map(
            ([k, v]) => [k, v ?? NaN],
          ),
        );

  const weights = new Map<string, Float32Array>();
  const shapes = new Map<string, number[]>();
  const ema = new Map<string, Float32Array>();
  const m = new Map<string, Float32Array>();
  const v = new Map<string, Float32Array>();
  const others: [string, Map<string, Float32Array>, string][] = [];
  for (const [name, t] of Object.entries(file.tensors)) {
    if (t.dtype !== 'F32') bad(`tensor '${name}' is ${t.dtype}, expected F32`);
    const data = t.data as Float32Array;
    if (name.startsWith(PREFIX.model)) {
      weights.set(name.slice(PREFIX.model.length), data);
      shapes.set(name.slice(PREFIX.model.length), t.shape);
    } else if (name.startsWith(PREFIX.ema)) others.push([name, ema, PREFIX.ema]);
    else if (name.startsWith(PREFIX.m)) others.push([name, m, PREFIX.m]);
    else if (name.startsWith(PREFIX.v)) others.push([name, v, PREFIX.v]);
    else bad(`unexpected tensor '${name}'`);
  }
  // EMA and moments must mirror a parameter's shape exactly.
  for (const [name, map, prefix] of others) {
    const param = name.slice(prefix.length);
    const shape = shapes.get(param);
    if (shape === undefined) bad(`tensor '${name}' belongs to no parameter`);
    const t = file.tensors[name];
    if (t.shape.join() !== shape.join()) bad(`tensor '${name}' has shape [${t.shape}], the parameter [${shape}]`);
    map.set(param, t.data as Float32Array);
  }
  if (hasEma === 'true' && ema.size !== weights.size) bad(`${weights.size - ema.size} EMA tensor(s) are missing`);
  if (hasEma === 'false' && ema.size > 0) bad('EMA tensors present in a checkpoint without EMA');
  if (m.size !== v.size || [...m.keys()].some((k) => !v.has(k))) bad('optimizer moments m and v do not match');

  return {
    step,
    weights,
    ema: hasEma === 'true' ? ema : null,
    optimizer: { kind: opt.kind as 'adam' | 'adamw', step: opt.step as number, m, v },
    shapes,
    lr: lr as TrainingState['lr'],
    rng: recordOf(jsonField(meta, 'rng'), isRngValue, 'rng'),
    data: { epoch: data.epoch as number, index: data.index as number },
    config: jsonField(meta, 'config'),
    backend: field(meta, 'backend'),
    versions: recordOf(jsonField(meta, 'versions'), isString, 'versions'),
    ...(metrics && { metrics }),
  };
}
