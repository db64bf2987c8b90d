/**
 * `diffusion-studio export-onnx --run ID --out model.onnx`: a trained run's checkpoint as an ONNX model (opset 17)
 * for onnxruntime or any other ONNX runtime. The interface (x NHWC, t, label; out NHWC) and the metadata a sampler
 * needs (prediction type, schedule, timesteps, classes, learned variance, step) are described in
 * src/engines/onnx/export.ts. The file is checked by loading it into onnxruntime before the command succeeds.
 */
import { parseArgs } from 'node:util';
import { exportOnnx } from '../engines/onnx/export.ts';
import { OnnxModelSession } from '../engines/onnx/session.ts';
import { describeFsError, writeCheckpointBytes } from '../checkpoint/io.ts';
import { paramCount } from '../model/ir.ts';
import { UsageError } from './errors.ts';
import { loadRunModel } from './run-model.ts';
import { openStudioStore, studioPaths } from './studio-paths.ts';

export const EXPORT_ONNX_HELP = `Usage: diffusion-studio export-onnx --run ID --out FILE.onnx [options]

  --run ID                the training run (see: diffusion-studio runs)
  --checkpoint C          checkpoint id or step                                                   [latest good]
  --ema                   export the EMA weights instead of the raw weights
  --out FILE.onnx         where to write the model
  --db FILE               studio database                          [$DIFFUSION_STUDIO_HOME/studio.db]
  --json                  print a JSON summary

The model takes x [batch, H, W, C] float32 (NHWC; [batch, D] for vector data), t [batch] float32 timesteps and,
for conditional runs, label [batch] int64 (negative or the class count = the null class), and returns out with C
channels (2C with learned variance: the prediction, then v). Its metadata names the prediction type, schedule,
timesteps, classes and training step.
`;

export async function exportOnnxCommand(argv: string[], out: NodeJS.WritableStream): Promise<void> {
  const { values: v } = parseArgs({
    args: argv,
    strict: true,
    allowPositionals: false,
    options: {
      run: { type: 'string' },
      checkpoint: { type: 'string' },
      ema: { type: 'boolean' },
      out: { type: 'string' },
      db: { type: 'string' },
      json: { type: 'boolean' },
    },
  });
  if (!v.run) throw new UsageError('--run ID is required (see: diffusion-studio runs)');
  if (!v.out) throw new UsageError('--out FILE.onnx is required');
  if (!v.out.toLowerCase().endsWith('.onnx')) throw new UsageError('--out must name a .onnx file');
  const outPath = v.out;

  const paths = studioPaths({ db: v.db });
  const store = openStudioStore(paths.db);
  try {
    const log = (line: string) => out.write(`${line}\n`);
    const { run, config, checkpoint, weights, ir } = await loadRunModel(
      store,
      paths,
      { run: v.run, checkpoint: v.checkpoint, ema: v.ema },
      log,
    );
    const bytes = exportOnnx(ir, weights, {
      prediction: config.objective,
      schedule: config.schedule,
      timesteps: config.timesteps,
      step: checkpoint.step,
      ema: Boolean(v.ema),
      extra: { 'diffusion_studio.run': run.id, 'diffusion_studio.checkpoint': checkpoint.id },
    });
    // Refuse to write a file onnxruntime cannot load.
    const session = await OnnxModelSession.create(bytes, { providers: ['cpu'] });
    await session.release();
    // Atomic (temp file, fsync, rename), as checkpoints: a reader never sees half a model.
    try {
      await writeCheckpointBytes(outPath, bytes);
    } catch (e) {
      throw new UsageError(`cannot write ${outPath}: ${describeFsError(e)}`);
    }
    const summary = {
      run: run.id,
      checkpoint: checkpoint.id,
      step: checkpoint.step,
      ema: Boolean(v.ema),
      params: paramCount(ir),
      opset: 17,
      bytes: bytes.length,
      out: outPath,
    };
    if (v.json) {
      out.write(`${JSON.stringify(summary)}\n`);
      return;
    }
    out.write(
      `exported run ${run.id} step ${checkpoint.step} (${v.ema ? 'EMA' : 'raw'} weights, ` +
        `${summary.params.toLocaleString('en-US')} parameters) -> ${outPath} (${(bytes.length / 1e6).toFixed(1)} MB, opset 17)\n`,
    );
  } finally {
    store.close();
  }
}
