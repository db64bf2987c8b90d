/**
 * A run's network ready to sample, whatever its kind: a trained run's checkpoint on tfjs or exported to onnxruntime,
 * or an imported foreign ONNX model (onnx only). `sample --run` and the model sample worker both start here, so
 * both see the same VpModel, schedule and shape.
 */
import type { Prediction, VpModel } from '../core/parameterization.ts';
import type { ScheduleName } from '../core/schedules.ts';
import { exportOnnx } from '../engines/onnx/export.ts';
import { ForeignOnnxModel, foreignVpModel } from '../engines/onnx/foreign.ts';
import { OnnxModelSession, onnxVpModel, PROVIDER_ORDER, type OnnxProvider } from '../engines/onnx/session.ts';
import { BACKEND_ORDER, selectBackend, type BackendName } from '../engines/tfjs/backend.ts';
import { TfjsModel, tfjsVpModel } from '../engines/tfjs/model.ts';
import { paramCount } from '../model/ir.ts';
import type { Store } from '../store/store.ts';
import type { Checkpoint, Run } from '../store/types.ts';
import { UsageError } from './errors.ts';
import { importConfigOf } from './import-config.ts';
import { loadRunModel } from './run-model.ts';
import { requireRun, type StudioPaths } from './studio-paths.ts';

export type EngineName = 'tfjs' | 'onnx';

export interface RunEngineRequest {
  run: string;
  checkpoint?: string;
  ema?: boolean;
  /** Default: tfjs for trained runs, onnx for imports. */
  engine?: EngineName;
  backend?: 'auto' | BackendName;
  provider?: 'auto' | OnnxProvider;
  /** Threads of onnxruntime's cpu pool. */
  intraOpThreads?: number;
}

export interface RunEngine {
  run: Run;
  /** The checkpoint sampled; null for imports (they have none). */
  checkpoint: Checkpoint | null;
  prediction: Prediction;
  schedule: ScheduleName;
  timesteps: number;
  /** Per-sample shape: [H, W, C] or [D]. */
  shape: number[];
  numClasses: number;
  /** Parameter count when known (our own IR). */
  params: number | null;
  /** e.g. tfjs-wasm, onnxruntime-cpu. */
  engineName: string;
  vp(labels?: Int32Array): VpModel;
  release(): Promise<void>;
}

export async function openRunEngine(
  store: Store,
  paths: StudioPaths,
  request: RunEngineRequest,
  log: (line: string) => void,
): Promise<RunEngine> {
  const providers = !request.provider || request.provider === 'auto' ? PROVIDER_ORDER : [request.provider];
  const threads = request.intraOpThreads !== undefined ? { intraOpThreads: request.intraOpThreads } : {};
  const run = requireRun(store, request.run, paths);
  if (run.kind === 'import') {
    if (request.engine === 'tfjs')
      throw new UsageError(`run ${run.id} is an imported ONNX model; it runs on onnx only`);
    if (request.backend !== undefined) throw new UsageError('--backend applies to tfjs; imported models run on onnx');
    if (request.checkpoint !== undefined || request.ema) {
      throw new UsageError(`run ${run.id} is an imported ONNX model; it has no checkpoints (drop --checkpoint, --ema)`);
    }
    const c = importConfigOf(run.id, run.config);
    let model: ForeignOnnxModel;
    try {
      model = await ForeignOnnxModel.create(c.file, c.model, c.classes, { providers, ...threads });
    } catch (e) {
      const err = e as NodeJS.ErrnoException;
      if (err.code === 'ENOENT') throw new UsageError(`the model file of run ${run.id} is missing: ${c.file}`);
      throw e;
    }
    return {
      run,
      checkpoint: null,
      prediction: c.prediction,
      schedule: c.schedule,
      timesteps: c.timesteps,
      shape: c.model.shape,
      numClasses: c.classes,
      params: null,
      engineName: `onnxruntime-${model.provider}`,
      vp: (labels) => foreignVpModel(model, labels),
      release: () => model.release(),
    };
  }
  const { config, checkpoint, weights, dataset, ir } = await loadRunModel(store, paths, request, log);
  const common = {
    run,
    checkpoint,
    prediction: config.objective,
    schedule: config.schedule,
    timesteps: config.timesteps,
    shape: [...dataset.shape],
    numClasses: ir.inputs.label?.numClasses ?? 0,
    params: paramCount(ir),
  };
  // onnxruntime unless tfjs is asked for (by name or through a tfjs --backend): 6-8x faster on the tiny preset.
  const onnx = request.engine === 'onnx' || (request.engine === undefined && request.backend === undefined);
  if (onnx) {
    const bytes = exportOnnx(ir, weights, {
      prediction: config.objective,
      schedule: config.schedule,
      timesteps: config.timesteps,
    });
    const session = await OnnxModelSession.create(bytes, { providers, ...threads });
    return {
      ...common,
      engineName: `onnxruntime-${session.provider}`,
      vp: (labels) => onnxVpModel(session, labels),
      release: () => session.release(),
    };
  }
  const backend = request.backend ?? 'auto';
  const selected = await selectBackend(backend === 'auto' ? BACKEND_ORDER : [backend]);
  const model = TfjsModel.create(ir, weights);
  return {
    ...common,
    engineName: `tfjs-${selected.name}`,
    vp: (labels) => tfjsVpModel(model, labels),
    release: async () => model.dispose(),
  };
}
