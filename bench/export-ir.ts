/**
 * Exports a model preset for the PyTorch implementation of the IR (bench/torch/ir_model.py): the IR, parameters, a
 * fixed input batch and the tfjs engine's output on it, so that an independent implementation can check what the
 * tfjs interpreter computes.
 *
 *   npx tsx bench/export-ir.ts --preset tiny --size 16 --channels 1 [--classes 10] [--learned-variance]
 *       [--batch 4] [--seed 0] [--params busy|init] [--x-scale 1] [--backends wasm,cpu] --out DIR
 *   /usr/bin/python3 bench/torch/ir_model.py --check DIR
 *
 * DIR receives:
 *   ir.json                    the ModelIR (JSON.stringify)
 *   params.safetensors         F32 tensors named as in the IR, canonical PyTorch layout
 *   input.safetensors          x [B, H, W, C] or [B, D] (F32), t [B] float timesteps (F32), labels [B] (I32, only
 *                              for class-conditional models; includes -1 and numClasses, both the null class)
 *   tfjs-output.safetensors    one F32 tensor per backend (`wasm`, `cpu`): TfjsModel.apply, inference mode
 *
 * --params init gives the parameters training starts from (initParams), whose zero-init layers (conv2, attention
 * proj, conv_out) make the output exactly 0: useless for a parity check, hence the default `busy`, where every
 * parameter is drawn nonzero from the same deterministic streams.
 */
import * as tf from '@tensorflow/tfjs';
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { parseArgs } from 'node:util';
import { encodeSafetensors, type EncodableTensor } from '../src/checkpoint/safetensors.ts';
import { NormalStream, StreamPurpose } from '../src/core/rng.ts';
import { useBackend, type BackendName } from '../src/engines/tfjs/backend.ts';
import { TfjsModel } from '../src/engines/tfjs/model.ts';
import { modelPreset, type PresetName } from '../src/model/config.ts';
import { initParam, initParams } from '../src/model/init.ts';
import { buildIR, numel, type ModelIR } from '../src/model/ir.ts';

export interface ExportOptions {
  dir: string;
  preset: PresetName;
  /** Channels of an image, or values per sample of vector data (size 0). */
  channels: number;
  /** Image side; 0 = vector data. */
  size: number;
  numClasses?: number;
  learnedVariance?: boolean;
  batch?: number;
  seed?: number;
  params?: 'busy' | 'init';
  /** Multiplies x (default 1). Small inputs make GroupNorm statistics small, so that its eps shows in the output. */
  xScale?: number;
  /** tfjs backends whose outputs go into tfjs-output.safetensors; none = no file. */
  backends?: BackendName[];
}

/**
 * Every parameter nonzero: zero-init weights get the uniform fan-in bound of their layer, zero biases N(0, 0.1^2),
 * ones (norm gains) 1 + N(0, 0.1^2). Deterministic: the same per-name streams as initParams.
 */
export function busyParams(ir: ModelIR, seed: number): Map<string, Float32Array> {
  const out = initParams(ir, seed);
  for (const spec of ir.params) {
    const { name, shape, init, layout } = spec;
    if (init.kind === 'zeros' && (layout === 'conv2d' || layout === 'linear')) {
      out.set(name, initParam(name, shape, { kind: 'uniform', bound: 1 / Math.sqrt(numel(shape.slice(1))) }, seed));
    } else if (init.kind === 'zeros') {
      out.set(name, initParam(name, shape, { kind: 'normal', std: 0.1 }, seed));
    } else if (init.kind === 'ones') {
      out.set(
        name,
        initParam(name, shape, { kind: 'normal', std: 0.1 }, seed).map((v) => 1 + v),
      );
    }
  }
  return out;
}

/** Writes ir.json and params.safetensors (plain IR names, F32) into dir. */
export function writeModel(dir: string, ir: ModelIR, params: ReadonlyMap<string, Float32Array>): void {
  mkdirSync(dir, { recursive: true });
  writeFileSync(join(dir, 'ir.json'), JSON.stringify(ir));
  const tensors: Record<string, EncodableTensor> = {};
  for (const spec of ir.params) tensors[spec.name] = { dtype: 'F32', shape: spec.shape, data: params.get(spec.name)! };
  writeFileSync(join(dir, 'params.safetensors'), encodeSafetensors(tensors));
}

/** Fixed, deterministic inputs: N(0, 1) x, timesteps spanning [0, 999] with fractional ones, labels with nulls. */
export function fixedInputs(ir: ModelIR, batch: number, seed: number, xScale = 1) {
  const x = new Float32Array(batch * numel(ir.inputs.x.shape));
  new NormalStream(seed, 1, StreamPurpose.init).fill(x);
  for (let i = 0; i < x.length; i++) x[i] *= xScale;
  const t = Float32Array.from({ length: batch }, (_, j) => (j === 0 ? 0 : j === 1 ? 999 : (j * 337.75) % 1000));
  const n = ir.inputs.label?.numClasses;
  const labels =
    n === undefined ? null : Int32Array.from({ length: batch }, (_, j) => (j === 1 ? -1 : j === 2 ? n : j % n));
  return { x, t, labels };
}

/** Writes the four files of a parity case; returns the IR. */
export async function exportModel(o: ExportOptions): Promise<ModelIR> {
  const batch = o.batch ?? 4;
  const seed = o.seed ?? 0;
  const ir = buildIR(
    modelPreset(o.preset, {
      channels: o.channels,
      size: o.size,
      numClasses: o.numClasses ?? 0,
      learnedVariance: o.learnedVariance ?? false,
    }),
  );
  const params = (o.params ?? 'busy') === 'busy' ? busyParams(ir, seed) : initParams(ir, seed);
  writeModel(o.dir, ir, params);

  const { x, t, labels } = fixedInputs(ir, batch, seed, o.xScale ?? 1);
  const xShape = [batch, ...ir.inputs.x.shape];
  const inputs: Record<string, EncodableTensor> = {
    x: { dtype: 'F32', shape: xShape, data: x },
    t: { dtype: 'F32', shape: [batch], data: t },
  };
  if (labels) inputs.labels = { dtype: 'I32', shape: [batch], data: labels };
  writeFileSync(join(o.dir, 'input.safetensors'), encodeSafetensors(inputs));

  const outputs: Record<string, EncodableTensor> = {};
  for (const backend of o.backends ?? []) {
    await useBackend(backend);
    const model = TfjsModel.create(ir, params);
    try {
      const y = tf.tidy(() =>
        model.apply(
          tf.tensor(x, xShape, 'float32'),
          tf.tensor1d(t, 'float32'),
          labels ? tf.tensor1d(labels, 'int32') : null,
          { training: false },
        ),
      );
      outputs[backend] = { dtype: 'F32', shape: y.shape, data: Float32Array.from(y.dataSync()) };
      y.dispose();
    } finally {
      model.dispose();
    }
  }
  if (Object.keys(outputs).length > 0)
    writeFileSync(join(o.dir, 'tfjs-output.safetensors'), encodeSafetensors(outputs));
  return ir;
}

async function main(): Promise<void> {
  const { values } = parseArgs({
    options: {
      preset: { type: 'string', default: 'tiny' },
      size: { type: 'string', default: '16' },
      channels: { type: 'string', default: '1' },
      classes: { type: 'string', default: '0' },
      'learned-variance': { type: 'boolean', default: false },
      batch: { type: 'string', default: '4' },
      seed: { type: 'string', default: '0' },
      params: { type: 'string', default: 'busy' },
      'x-scale': { type: 'string', default: '1' },
      backends: { type: 'string', default: 'wasm' },
      out: { type: 'string' },
    },
  });
  if (!values.out) throw new Error('--out DIR is required');
  if (values.params !== 'busy' && values.params !== 'init') throw new Error('--params must be busy or init');
  const ir = await exportModel({
    dir: values.out,
    preset: values.preset as PresetName,
    size: Number(values.size),
    channels: Number(values.channels),
    numClasses: Number(values.classes),
    learnedVariance: values['learned-variance'],
    batch: Number(values.batch),
    seed: Number(values.seed),
    params: values.params,
    xScale: Number(values['x-scale']),
    backends: values.backends ? (values.backends.split(',') as BackendName[]) : [],
  });
  console.log(`wrote ${values.out}: ${ir.params.length} parameters, ${ir.nodes.length} nodes`);
}

// Run as a script (not when imported by the parity test or the benchmark).
if (process.argv[1] && import.meta.url === pathToFileURL(process.argv[1]).href) {
  main().catch((e: unknown) => {
    console.error(e);
    process.exit(1);
  });
}
