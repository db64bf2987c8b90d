/**
 * The service's trajectory calls (StudioService delegates to this class): sampleRun runs model-sample.worker.ts
 * through the shared JobRunner and turns its messages into job events; every finished sampling job (run or
 * analytic, see JobTrajectory) stores its trajectory with its sample set; stored ones are listed, replayed as job
 * events, and exported as pictures.
 */
import { randomUUID } from 'node:crypto';
import { join } from 'node:path';
import type {
  ExportedFile,
  JobEvent,
  JobHandle,
  OpenedTrajectory,
  RunSampleRequest,
  TrajectoryExportRequest,
  TrajectorySummary,
} from '../api/contract.ts';
import { NotFoundError, serializeError, ValidationError } from '../api/errors.ts';
import type { Store } from '../store/store.ts';
import type { JsonObject } from '../store/types.ts';
import type { FromModelSampleWorker, ModelSampleStart } from '../worker/model-sample-messages.ts';
import type { Job, JobOutcome, JobRunner } from './job-runner.ts';
import { planRunSample, type PlannedRunSample } from './model-sampling.ts';
import { replayTrajectory, readTrajectory, trajectorySummary, JobTrajectory } from './trajectories.ts';
import { exportTrajectory } from './trajectory-exports.ts';
import type { WorkerEntry } from './worker-entry.ts';

/** Samples per model call (a guided chunk holds half as many: both halves go in one call). */
const MAX_MODEL_BATCH = 64;

export interface TrajectoryServiceOptions {
  store: Store;
  jobs: JobRunner;
  dbPath: string;
  runsDir: string;
  samplesDir: string;
  exportsDir: string;
  /** model-sample.worker.ts as this host runs it; without it sampleRun is refused. */
  entry: WorkerEntry | undefined;
  emit(event: JobEvent): void;
}

export class TrajectoryService {
  constructor(private readonly o: TrajectoryServiceOptions) {}

  async sampleRun(request: RunSampleRequest): Promise<JobHandle> {
    const entry = this.o.entry;
    if (!entry) throw new Error('this host has no model-sample worker, so it cannot sample runs');
    const plan = await planRunSample(this.o.store, this.o.runsDir, request);
    const jobId = randomUUID();
    const outPath = join(this.o.samplesDir, `${jobId}.npy`);
    const trajectory = new JobTrajectory(this.o.samplesDir, jobId);
    const start: ModelSampleStart = {
      type: 'start',
      jobId,
      dbPath: this.o.dbPath,
      runsDir: this.o.runsDir,
      request: plan.worker,
      outPath,
      maxModelBatch: MAX_MODEL_BATCH,
      previewSamples: plan.preview,
    };
    let engine = '';
    let shape: number[] = [];
    let totalSteps = 0;
    const job: Job<FromModelSampleWorker, ModelSampleStart> = {
      id: jobId,
      entry,
      kind: 'model-sample',
      start,
      completedSteps: 0,
      message: async (m) => {
        switch (m.type) {
          case 'started': {
            ({ engine, shape } = m);
            const dim = shape.reduce((a, b) => a * b, 1);
            totalSteps = m.steps * m.chunks;
            trajectory.started(m.steps, plan.preview, dim, m.sigmas);
            this.o.emit({
              type: 'job-started',
              jobId,
              kind: 'sample-run',
              steps: m.steps,
              n: m.n,
              dim,
              sigmas: m.sigmas,
              formulation: 'vp',
              threadId: m.threadId,
              shape,
              preview: plan.preview,
              engine,
              runId: plan.run.id,
              checkpointId: m.checkpointId ?? null,
              chunks: m.chunks,
            });
            return;
          }
          case 'step':
            if (m.x && m.x0Pred) {
              trajectory.step(m.i, m.x, m.x0Pred, m.nfe);
              const { x, x0Pred, chunk: _chunk, ...rest } = m;
              this.o.emit({ ...rest, type: 'job-step', jobId, x, x0Pred });
            } else {
              this.o.emit({ type: 'job-progress', jobId, done: m.i + 1, total: totalSteps });
            }
            return;
          case 'done': {
            if (!m.x) throw new Error('the model-sample worker sent no final preview samples');
            const kept = await trajectory.save(m.x, {
              formulation: 'vp',
              shape,
              engine,
              totalNfe: m.nfe,
              ms: m.ms,
            });
            const set = this.o.store.createSampleSet({
              runId: plan.run.id,
              checkpointId: m.checkpointId,
              model: this.#model(plan, m.checkpointId, engine),
              sampler: plan.worker.sampler,
              steps: plan.worker.steps,
              options: plan.recordedOptions as JsonObject,
              seed: plan.worker.seed,
              n: plan.worker.n,
              path: m.path,
              ...kept,
            });
            this.o.emit({
              type: 'job-done',
              jobId,
              nfe: m.nfe,
              ms: m.ms,
              sampleSetId: set.id,
              threadId: m.threadId,
              x: m.x,
            });
            return;
          }
          case 'cancelled':
            this.o.emit({ type: 'job-cancelled', jobId, completedSteps: m.completedSteps });
            return;
          case 'error':
            this.o.emit({ type: 'job-error', jobId, error: m.error });
            return;
        }
      },
      ended: (outcome: JobOutcome) =>
        this.o.emit(
          outcome.cancelled
            ? { type: 'job-cancelled', jobId, completedSteps: job.completedSteps }
            : { type: 'job-error', jobId, error: serializeError(outcome.error) },
        ),
    };
    this.o.jobs.submit(job);
    return { jobId };
  }

  listTrajectories(): TrajectorySummary[] {
    return this.o.store
      .listSampleSets({ withTrajectory: true })
      .map(trajectorySummary)
      .filter((t): t is TrajectorySummary => t !== null);
  }

  async openTrajectory(id: string): Promise<OpenedTrajectory> {
    if (typeof id !== 'string') throw new ValidationError('the trajectory id must be a string');
    const set = this.o.store.getSampleSet(id);
    const summary = set && trajectorySummary(set);
    if (!set || !summary) throw new NotFoundError(`no stored trajectory ${id}`);
    const stored = await readTrajectory(set);
    const jobId = `replay-${randomUUID()}`;
    // After the reply is on its way; the renderer holds a job's early events until it knows the id anyway.
    setImmediate(() => {
      replayTrajectory(set, summary, stored, jobId, (e) => this.o.emit(e)).catch((e: unknown) =>
        this.o.emit({ type: 'job-error', jobId, error: serializeError(e) }),
      );
    });
    return { jobId, trajectory: summary };
  }

  exportTrajectory(request: TrajectoryExportRequest): Promise<ExportedFile> {
    return exportTrajectory(this.o.store, this.o.exportsDir, request);
  }

  #model(plan: PlannedRunSample, checkpointId: string | null, engine: string): JsonObject {
    const checkpoint = checkpointId ? this.o.store.getCheckpoint(checkpointId) : undefined;
    return {
      run: plan.run.id,
      runName: plan.run.name,
      ...(checkpoint
        ? { checkpoint: checkpoint.id, step: checkpoint.step, ema: plan.worker.ema === true }
        : { kind: 'import' }),
      engine,
    };
  }
}
