/**
 * `diffusion-studio import-onnx --file model.onnx --prediction eps --schedule linear`: register an ONNX denoiser from
 * elsewhere (e.g. torch.onnx.export of a PyTorch U-Net) as a run of kind 'import', sampled like a trained run with
 * `sample --run ID` on onnxruntime. The file is inspected (inputs x / t / class by name, dtypes, shapes, one test
 * run), then copied into the run's folder so the run does not depend on the original staying put.
 */
import { createHash } from 'node:crypto';
import { mkdirSync, rmSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { basename, join, resolve } from 'node:path';
import { parseArgs } from 'node:util';
import { PREDICTIONS } from '../core/parameterization.ts';
import { SCHEDULE_NAMES } from '../core/schedules.ts';
import { describeFsError, writeCheckpointBytes } from '../checkpoint/io.ts';
import { ForeignModelError, inspectForeignOnnx, type ForeignInterface } from '../engines/onnx/foreign.ts';
import { newId } from '../store/ids.ts';
import type { JsonObject } from '../store/types.ts';
import { UsageError } from './errors.ts';
import type { ImportConfig } from './import-config.ts';
import { choiceFlag, intFlag } from './options.ts';
import { dbHint, openStudioStore, studioPaths } from './studio-paths.ts';

export const IMPORT_ONNX_HELP = `Usage: diffusion-studio import-onnx --file FILE.onnx --prediction P --schedule S [options]

  --file FILE.onnx        the model: inputs (x, t) or (x, t, class), one output (eps, x0 or v)
  --prediction P          eps | x0 | v: what the output is
  --schedule S            ${SCHEDULE_NAMES.join(' | ')}: the beta schedule it was trained with
  --timesteps T           training timesteps (t runs over 0 .. T-1)                               [1000]
  --layout L              nchw | nhwc: layout of an image input (PyTorch exports nchw)            [nchw]
  --classes K             a conditional model's number of classes; the null class is fed as K
  --learned-variance      the output has twice the channels: the prediction, then v (improved DDPM)
  --name N                the run's name                                                          [file name]
  --db FILE               studio database                          [$DIFFUSION_STUDIO_HOME/studio.db]
  --out DIR               parent folder of the run folders (the model is copied there)  [<data dir>/runs]
  --json                  print a JSON summary

Accepted input names: x, sample, input (float32 [batch, C, H, W], [batch, H, W, C] or [batch, D]); t, timestep,
timesteps (float32, int64 or int32, [batch] or a scalar; integer t is rounded); class, label, y, class_labels
(int64 or int32 [batch]). The batch dimension may be dynamic or fixed (then calls are padded to it).
`;

export async function importOnnxCommand(argv: string[], out: NodeJS.WritableStream): Promise<void> {
  const { values: v } = parseArgs({
    args: argv,
    strict: true,
    allowPositionals: false,
    options: {
      file: { type: 'string' },
      prediction: { type: 'string' },
      schedule: { type: 'string' },
      timesteps: { type: 'string' },
      layout: { type: 'string' },
      classes: { type: 'string' },
      'learned-variance': { type: 'boolean' },
      name: { type: 'string' },
      db: { type: 'string' },
      out: { type: 'string' },
      json: { type: 'boolean' },
    },
  });
  if (!v.file) throw new UsageError('--file FILE.onnx is required');
  const prediction = choiceFlag('prediction', v.prediction, PREDICTIONS);
  if (!prediction) throw new UsageError(`--prediction is required: ${PREDICTIONS.join(', ')}`);
  const schedule = choiceFlag('schedule', v.schedule, SCHEDULE_NAMES);
  if (!schedule) throw new UsageError(`--schedule is required: ${SCHEDULE_NAMES.join(', ')}`);
  const timesteps = intFlag('timesteps', v.timesteps, 2, 100_000) ?? 1000;
  const layout = choiceFlag('layout', v.layout, ['nchw', 'nhwc'] as const) ?? 'nchw';
  const classes = intFlag('classes', v.classes, 1, 1_000_000) ?? 0;
  const source = resolve(v.file);

  let bytes: Uint8Array;
  try {
    bytes = new Uint8Array(await readFile(source));
  } catch (e) {
    throw new UsageError(`cannot read ${v.file}: ${describeFsError(e)}`);
  }
  let model: ForeignInterface;
  try {
    model = await inspectForeignOnnx(bytes, {
      layout,
      learnedVariance: Boolean(v['learned-variance']),
      numClasses: classes,
    });
  } catch (e) {
    if (e instanceof ForeignModelError) throw new UsageError(`${v.file}: ${e.message}`);
    throw e;
  }

  const paths = studioPaths({ db: v.db, out: v.out });
  const store = openStudioStore(paths.db);
  try {
    const id = newId('r');
    const dir = join(paths.runs, id);
    const file = join(dir, 'model.onnx');
    mkdirSync(dir, { recursive: true });
    try {
      await writeCheckpointBytes(file, bytes);
    } catch (e) {
      rmSync(dir, { recursive: true, force: true });
      throw new UsageError(`cannot write ${file}: ${describeFsError(e)}`);
    }
    const sha256 = createHash('sha256').update(bytes).digest('hex');
    const config: ImportConfig = { file, source, sha256, prediction, schedule, timesteps, classes, model };
    const run = store.createRun({
      id,
      name: v.name ?? basename(source).replace(/\.onnx$/i, ''),
      kind: 'import',
      status: 'completed',
      engine: 'onnxruntime',
      config: config as unknown as JsonObject,
    });
    if (v.json) {
      out.write(`${JSON.stringify({ run: run.id, name: run.name, bytes: bytes.length, ...config })}\n`);
      return;
    }
    const what = model.shape.length === 3 ? `${model.shape.join('x')} images (${layout})` : `${model.shape[0]}-vectors`;
    const cond = classes > 0 ? `, ${classes} classes` : '';
    out.write(
      `run ${run.id} imported from ${v.file}: ${prediction} prediction, ${schedule} schedule (${timesteps} steps), ` +
        `${what}${cond}, batch ${model.batch ?? 'dynamic'}\n` +
        `sample it: diffusion-studio sample --run ${run.id}${dbHint(paths)}\n`,
    );
  } finally {
    store.close();
  }
}
