/**
 * The studio's service layer: the one implementation of the API contract, shared by the Electron and server hosts.
 * No Electron imports here. It owns the single read-write Store (the one database writer), turns requests into
 * worker jobs, and turns worker messages into contract events.
 */
import { randomUUID } from 'node:crypto';
import { existsSync, mkdirSync, statSync } from 'node:fs';
import { availableParallelism, arch, platform } from 'node:os';
import { basename, isAbsolute, join } from 'node:path';
import type {
  ComparisonExport,
  ComparisonExportRequest,
  ComparisonHandle,
  ComparisonRequest,
  ComparisonSummary,
  ComparisonTrajectory,
  ComparisonView,
  AnalyticSampleRequest,
  AppInfo,
  Checkpoint,
  DeletedCheckpointInfo,
  DeletedRunInfo,
  EventListener,
  ForkRunRequest,
  Host,
  JobHandle,
  ListPreviewsRequest,
  RenameRunRequest,
  Run,
  RunDetail,
  RunMetrics,
  RunMetricsRequest,
  RunPreview,
  RunSummary,
  SampleSet,
  ScheduleInfo,
  StudioCalls,
  StudioEvent,
  TrainConfigInput,
  TrainState,
} from '../api/contract.ts';
import { NotFoundError, serializeError, ValidationError } from '../api/errors.ts';
import type { GaussianMixture } from '../core/gmm.ts';
import type { GridSchedule } from '../core/noise-grid.ts';
import { getSampler, SAMPLER_NAMES } from '../core/samplers/index.ts';
import { openStore } from '../store/open.ts';
import type { Store } from '../store/store.ts';
import type { JsonObject, RunStatus } from '../store/types.ts';
import { TOY_CLASSES } from '../data/toy2d.ts';
import { ConfigError, resolveTrainConfig, type TrainConfig } from '../train/config.ts';
import { ANALYTIC_LIMITS, checkSamplerOptions, planAnalyticSampling } from '../worker/analytic-plan.ts';
import type { FromSampleWorker, ResolvedAnalyticRequest, ToSampleWorker } from '../worker/sample-messages.ts';
import { dataPaths, resolveDataDir } from './data-dir.ts';
import { JobRunner, type Job, type JobOutcome } from './job-runner.ts';
import { findPreset, MIXTURE_PRESETS } from './mixture-presets.ts';
import { RunAdmin } from './run-admin.ts';
import { ComparisonService } from './comparisons.ts';
import { TrainingJobs, type TrainingEvent } from './training-jobs.ts';
import type { WorkerEntry } from './worker-entry.ts';
import type {
  ExportedFile,
  OpenedTrajectory,
  RunSampleRequest,
  TrajectoryExportRequest,
  TrajectorySummary,
} from '../api/trajectory-contract.ts';
import { JobTrajectory } from './trajectories.ts';
import { TrajectoryService } from './trajectory-service.ts';

export interface StudioServiceOptions {
  host: Host;
  version: string;
  /** Defaults to $DIFFUSION_STUDIO_HOME, then ~/.diffusion-studio. */
  dataDir?: string;
  /** Where each kind of worker's code lives (hosts know how they were built). */
  workers: { sample: WorkerEntry; train: WorkerEntry; compare?: WorkerEntry; modelSample?: WorkerEntry };
  /** Jobs running at once; default: one core left for the host's main thread. */
  maxConcurrentJobs?: number;
}

interface SampleMeta {
  preset: string | null;
  request: ResolvedAnalyticRequest;
  outPath: string;
  /** The job's trajectory, stored with its sample set (src/service/trajectories.ts). */
  trajectory: JobTrajectory;
}

const SCHEDULE_LABELS: Record<GridSchedule, string> = {
  linear: 'Linear (DDPM)',
  cosine: 'Cosine (improved DDPM)',
  'scaled-linear': 'Scaled linear (Stable Diffusion)',
  sigmoid: 'Sigmoid (GeoDiff)',
  karras: 'Karras (EDM)',
};

export class StudioService implements StudioCalls {
  readonly dataDir: string;
  readonly #store: Store;
  readonly #listeners = new Set<EventListener>();
  readonly #jobs: JobRunner;
  readonly #workers: number;
  readonly #samplesDir: string;
  readonly #training: TrainingJobs;
  readonly #admin: RunAdmin;
  readonly #comparisons: ComparisonService | null;
  readonly #trajectories: TrajectoryService;
  #closed = false;

  /** Opens (and migrates) the database and marks runs a previous session left running as interrupted. */
  constructor(private readonly options: StudioServiceOptions) {
    this.dataDir = resolveDataDir(options.dataDir);
    const paths = dataPaths(this.dataDir);
    mkdirSync(paths.samples, { recursive: true });
    mkdirSync(paths.runs, { recursive: true });
    this.#samplesDir = paths.samples;
    this.#store = openStore(paths.database);
    this.#store.markInterrupted();
    this.#training = new TrainingJobs({
      entry: options.workers.train,
      store: this.#store,
      dbPath: paths.database,
      runsDir: paths.runs,
      onEvent: (event) => this.#onTrainingEvent(event),
    });
    this.#admin = new RunAdmin({
      store: this.#store,
      runsDir: paths.runs,
      isTraining: (runId) => this.#training.isRunning(runId),
    });
    this.#workers = options.maxConcurrentJobs ?? Math.max(1, availableParallelism() - 1);
    this.#jobs = new JobRunner(this.#workers);
    const compare = options.workers.compare;
    this.#comparisons = compare
      ? new ComparisonService({
          store: this.#store,
          jobs: this.#jobs,
          entry: compare,
          folder: paths.comparisons,
          exportsDir: paths.exports,
          dbPath: paths.database,
          runsDir: paths.runs,
          emit: (event) => this.#emit(event),
        })
      : null;
    this.#trajectories = new TrajectoryService({
      store: this.#store,
      jobs: this.#jobs,
      dbPath: paths.database,
      runsDir: paths.runs,
      samplesDir: paths.samples,
      exportsDir: paths.exports,
      entry: options.workers.modelSample,
      emit: (event) => this.#emit(event),
    });
  }

  // ---- sampling runs, stored trajectories, their exports (src/service/trajectory-service.ts) ----

  async sampleRun(request: RunSampleRequest): Promise<JobHandle> {
    this.#checkOpen();
    return this.#trajectories.sampleRun(request);
  }

  async listTrajectories(): Promise<TrajectorySummary[]> {
    this.#checkOpen();
    return this.#trajectories.listTrajectories();
  }

  async openTrajectory(id: string): Promise<OpenedTrajectory> {
    this.#checkOpen();
    return this.#trajectories.openTrajectory(id);
  }

  async exportTrajectory(request: TrajectoryExportRequest): Promise<ExportedFile> {
    this.#checkOpen();
    return this.#trajectories.exportTrajectory(request);
  }

  // ---- comparisons (src/service/comparisons.ts) ----

  async startComparison(request: ComparisonRequest): Promise<ComparisonHandle> {
    return this.#compare().start(request);
  }

  async listComparisons(): Promise<ComparisonSummary[]> {
    return this.#compare().list();
  }

  async openComparison(id: string): Promise<ComparisonView> {
    return this.#compare().open(id);
  }

  async comparisonTrajectory(request: { id: string; cell: number }): Promise<ComparisonTrajectory> {
    return this.#compare().trajectory(request);
  }

  async rerunComparison(id: string): Promise<ComparisonHandle> {
    return this.#compare().rerun(id);
  }

  async exportComparisonGrid(request: ComparisonExportRequest): Promise<ComparisonExport> {
    return this.#compare().exportGrid(request);
  }

  #compare(): ComparisonService {
    this.#checkOpen();
    if (!this.#comparisons) throw new Error('this host was started without a compare worker');
    return this.#comparisons;
  }

  onEvent(listener: EventListener): () => void {
    this.#listeners.add(listener);
    return () => this.#listeners.delete(listener);
  }

  async info(): Promise<AppInfo> {
    const schedules: ScheduleInfo[] = (Object.keys(SCHEDULE_LABELS) as GridSchedule[]).map((name) => ({
      name,
      label: SCHEDULE_LABELS[name],
      formulations: ['vp', 'sigma'],
    }));
    return {
      name: 'Diffusion Studio',
      version: this.options.version,
      host: this.options.host,
      engine: {
        runtime: `Node ${process.versions.node}`,
        ...(process.versions.electron ? { electron: process.versions.electron } : {}),
        platform: platform(),
        arch: arch(),
        workers: this.#workers,
      },
      dataDir: this.dataDir,
      samplers: SAMPLER_NAMES.map((name) => {
        const s = getSampler(name);
        return {
          name,
          label: s.label,
          description: s.description,
          stochastic: s.stochastic,
          defaults: { ...s.defaults },
        };
      }),
      schedules,
      mixturePresets: [...MIXTURE_PRESETS],
      limits: { maxSteps: ANALYTIC_LIMITS.maxSteps, maxSamples: ANALYTIC_LIMITS.maxSamples },
    };
  }

  async sampleAnalytic(request: AnalyticSampleRequest): Promise<JobHandle> {
    this.#checkOpen();
    if (!request || typeof request !== 'object') throw new ValidationError('the request must be an object');
    const { mixture, preset } = this.#resolveMixture(request.mixture);
    const resolved: ResolvedAnalyticRequest = { ...request, mixture };
    const plan = planAnalyticSampling(resolved);
    await checkSamplerOptions(plan);
    const jobId = randomUUID();
    const outPath = join(this.#samplesDir, `${jobId}.npy`);
    const trajectory = new JobTrajectory(this.#samplesDir, jobId);
    const meta: SampleMeta = { preset, request: { ...resolved, mixture: plan.mixture }, outPath, trajectory };
    const job: Job<FromSampleWorker, Extract<ToSampleWorker, { type: 'start' }>> = {
      id: jobId,
      entry: this.options.workers.sample,
      kind: 'sample',
      start: { type: 'start', jobId, request: meta.request, outPath },
      completedSteps: 0,
      message: (message) => this.#onWorkerMessage(jobId, meta, message),
      ended: (outcome) => this.#emitJobEnded(job, outcome),
    };
    this.#jobs.submit(job);
    return { jobId };
  }

  async cancelJob(jobId: string): Promise<boolean> {
    if (typeof jobId !== 'string') throw new ValidationError('jobId must be a string');
    return this.#jobs.cancel(jobId);
  }

  async listRuns(): Promise<RunSummary[]> {
    this.#checkOpen();
    return this.#store.listRuns();
  }

  async listSampleSets(): Promise<SampleSet[]> {
    this.#checkOpen();
    return this.#store.listSampleSets();
  }

  async createTrainingRun(input: TrainConfigInput): Promise<Run> {
    this.#checkOpen();
    let config: TrainConfig;
    try {
      config = resolveTrainConfig(input);
    } catch (e) {
      if (e instanceof ConfigError) throw new ValidationError(e.message);
      throw e;
    }
    config = checkTrainData(config);
    const label = datasetLabel(config.data);
    return this.#store.createRun({
      name: `${label} ${config.preset}`,
      kind: 'train',
      config: config as unknown as JsonObject,
      dataset: label,
      preset: config.preset,
    });
  }

  async startTraining(runId: string): Promise<Run> {
    this.#checkOpen();
    const run = this.#trainRun(runId);
    if (this.#training.isRunning(runId)) throw new ValidationError(`run ${runId} is already training`);
    if (run.status === 'completed') throw new ValidationError('this run has completed; fork it to train further');
    const resume = this.#store.listCheckpoints(runId).length > 0;
    this.#training.start(runId, resume);
    this.#emit({ type: 'train-state', runId, state: 'running', step: run.lastStep });
    return this.#store.getRun(runId)!;
  }

  async pauseTraining(runId: string): Promise<boolean> {
    this.#trainRun(runId);
    return this.#training.pause(runId);
  }

  async resumeTraining(runId: string): Promise<boolean> {
    this.#trainRun(runId);
    return this.#training.resume(runId);
  }

  async stopTraining(runId: string): Promise<boolean> {
    this.#trainRun(runId);
    return this.#training.stop(runId);
  }

  async getRun(runId: string): Promise<RunDetail> {
    this.#checkOpen();
    const run = this.#requireRun(runId);
    let config: TrainConfig | null = null;
    try {
      if (run.kind === 'train') config = resolveTrainConfig(run.config);
    } catch {
      config = null; // an older or hand-edited config: the row is still shown
    }
    return { run, config, checkpoints: this.#store.listCheckpoints(runId), live: this.#training.isRunning(runId) };
  }

  async runMetrics(request: RunMetricsRequest): Promise<RunMetrics> {
    this.#checkOpen();
    if (!request || typeof request !== 'object') throw new ValidationError('the request must be an object');
    const { runId, names, sinceStep } = request;
    this.#requireRun(runId);
    if (!Array.isArray(names) || names.some((n) => typeof n !== 'string') || names.length > 64) {
      throw new ValidationError('names must be an array of at most 64 metric names');
    }
    if (sinceStep !== undefined && !Number.isInteger(sinceStep)) {
      throw new ValidationError('sinceStep must be an integer');
    }
    const out: RunMetrics = {};
    for (const name of names) out[name] = this.#store.metrics(runId, name, sinceStep);
    return out;
  }

  // ---- run management (src/service/run-admin.ts) ----

  async renameRun(request: RenameRunRequest): Promise<Run> {
    this.#checkOpen();
    return this.#admin.renameRun(request);
  }

  async deleteRun(runId: string): Promise<DeletedRunInfo> {
    this.#checkOpen();
    return this.#admin.deleteRun(runId);
  }

  async pinCheckpoint(checkpointId: string): Promise<Checkpoint> {
    this.#checkOpen();
    return this.#admin.pinCheckpoint(checkpointId);
  }

  async unpinCheckpoint(checkpointId: string): Promise<Checkpoint> {
    this.#checkOpen();
    return this.#admin.unpinCheckpoint(checkpointId);
  }

  async deleteCheckpoint(checkpointId: string): Promise<DeletedCheckpointInfo> {
    this.#checkOpen();
    return this.#admin.deleteCheckpoint(checkpointId);
  }

  async forkRun(request: ForkRunRequest): Promise<Run> {
    this.#checkOpen();
    return this.#admin.forkRun(request);
  }

  async listPreviews(request: ListPreviewsRequest): Promise<RunPreview[]> {
    this.#checkOpen();
    return this.#admin.listPreviews(request);
  }

  /** Stops every job (training runs write a checkpoint first) and closes the database. */
  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    await Promise.all([this.#jobs.close(), this.#training.close()]);
    this.#store.close();
    this.#listeners.clear();
  }

  #checkOpen(): void {
    if (this.#closed) throw new Error('the studio service is closed');
  }

  #requireRun(runId: unknown): Run {
    if (typeof runId !== 'string') throw new ValidationError('runId must be a string');
    const run = this.#store.getRun(runId);
    if (!run) throw new NotFoundError(`no run ${runId}`);
    return run;
  }

  #trainRun(runId: unknown): Run {
    const run = this.#requireRun(runId);
    if (run.kind !== 'train') throw new ValidationError(`run ${run.id} is not a training run`);
    return run;
  }

  #onTrainingEvent(event: TrainingEvent): void {
    switch (event.type) {
      case 'started':
        return;
      case 'log':
        this.#emit({ type: 'train-log', runId: event.runId, line: event.line });
        return;
      case 'progress':
        this.#emit({ type: 'train-progress', runId: event.progress.runId, progress: event.progress });
        return;
      case 'preview':
        this.#emit({ ...event, type: 'train-preview' });
        return;
      case 'checkpoint':
        this.#emit({ type: 'train-checkpoint', runId: event.runId, checkpoint: event.checkpoint });
        return;
      case 'paused':
      case 'resumed':
        this.#emit({ type: 'train-state', runId: event.runId, state: event.type === 'paused' ? 'paused' : 'running' });
        return;
      case 'done':
        this.#emit({
          type: 'train-state',
          runId: event.outcome.runId,
          state: event.outcome.status,
          step: event.outcome.step,
        });
        return;
      case 'error':
        this.#emit({ type: 'train-state', runId: event.runId, state: 'failed', error: event.error.message });
        return;
      case 'exited': {
        // The worker died without a final message; TrainingJobs has recorded the run's state.
        const run = this.#store.getRun(event.runId);
        this.#emit({
          type: 'train-state',
          runId: event.runId,
          state: run ? trainState(run.status) : 'interrupted',
          error: event.error,
        });
        return;
      }
    }
  }

  #resolveMixture(spec: AnalyticSampleRequest['mixture']): { mixture: GaussianMixture; preset: string | null } {
    if (spec && typeof spec === 'object' && 'preset' in spec) {
      const found = findPreset(spec.preset);
      if (!found) throw new NotFoundError(`unknown mixture preset "${spec.preset}"`);
      return { mixture: found.mixture, preset: found.id };
    }
    return { mixture: spec as GaussianMixture, preset: null };
  }

  #emit(event: StudioEvent): void {
    for (const listener of this.#listeners) {
      try {
        listener(event);
      } catch (e) {
        // One broken subscriber (a closed window) must not starve the others.
        console.error('studio event listener failed:', e);
      }
    }
  }

  /** A job that ended without its worker's final message (crash, exit, or termination after a cancel). */
  #emitJobEnded(job: { id: string; completedSteps: number }, outcome: JobOutcome): void {
    this.#emit(
      outcome.cancelled
        ? { type: 'job-cancelled', jobId: job.id, completedSteps: job.completedSteps }
        : { type: 'job-error', jobId: job.id, error: serializeError(outcome.error) },
    );
  }

  async #onWorkerMessage(jobId: string, meta: SampleMeta, message: FromSampleWorker): Promise<void> {
    switch (message.type) {
      case 'started':
        meta.trajectory.started(message.steps, message.n, message.dim, message.sigmas);
        this.#emit({
          type: 'job-started',
          jobId,
          kind: 'sample-analytic',
          steps: message.steps,
          n: message.n,
          dim: message.dim,
          sigmas: message.sigmas,
          formulation: meta.request.formulation,
          threadId: message.threadId,
        });
        return;
      case 'step':
        meta.trajectory.step(message.i, message.x, message.x0Pred, message.nfe);
        this.#emit({ ...message, type: 'job-step', jobId });
        return;
      case 'done': {
        const trajectory = await meta.trajectory.save(message.x, {
          formulation: meta.request.formulation,
          shape: [message.x.length / meta.request.n],
          engine: 'analytic',
          totalNfe: message.nfe,
          ms: message.ms,
        });
        const sampleSetId = this.#recordSampleSet(jobId, meta, message.path, trajectory);
        this.#emit({
          type: 'job-done',
          jobId,
          nfe: message.nfe,
          ms: message.ms,
          sampleSetId,
          threadId: message.threadId,
          x: message.x,
        });
        return;
      }
      case 'cancelled':
        this.#emit({ type: 'job-cancelled', jobId, completedSteps: message.completedSteps });
        return;
      case 'error':
        this.#emit({ type: 'job-error', jobId, error: message.error });
        return;
    }
  }

  #recordSampleSet(
    jobId: string,
    meta: SampleMeta,
    path: string,
    trajectory: { trajectoryPath: string; trajectory: JsonObject },
  ): string {
    const { request, preset } = meta;
    const model: JsonObject = {
      kind: 'gaussian-mixture',
      preset,
      mixture: { weights: request.mixture.weights, means: request.mixture.means, stds: request.mixture.stds },
      formulation: request.formulation,
      schedule: request.schedule,
      ...(request.spacing ? { spacing: request.spacing } : {}),
      ...(request.sigmaMin !== undefined ? { sigmaMin: request.sigmaMin } : {}),
      ...(request.sigmaMax !== undefined ? { sigmaMax: request.sigmaMax } : {}),
    };
    const set = this.#store.createSampleSet({
      model,
      sampler: request.sampler,
      steps: request.steps,
      options: finiteOptions({ ...getSampler(request.sampler).defaults, ...request.samplerOptions }),
      seed: request.seed,
      n: request.n,
      path,
      ...trajectory,
    });
    return set.id;
  }
}

/**
 * Sampler options as JSON can hold them: an Infinity default (s_tmax: no upper limit) is left out; being the
 * default, it is implied by its absence.
 */
function finiteOptions(options: Record<string, unknown>): JsonObject {
  return Object.fromEntries(
    Object.entries(options).filter(([, v]) => typeof v !== 'number' || Number.isFinite(v)),
  ) as JsonObject;
}

/** The store's run status as the UI names it. */
export function trainState(status: RunStatus): TrainState {
  return status === 'cancelled' ? 'stopped' : status;
}

/** The short dataset label stored on the run row (the CLI's datasetLabel, without importing the CLI). */
function datasetLabel(data: TrainConfig['data']): string {
  if (data.kind === 'toy') return `toy:${data.toy}`;
  if (data.kind === 'folder') return `folder:${basename(data.dir ?? '')}`;
  return data.kind;
}

/** Cheap checks of the data that can fail before a worker opens it: folders exist, labels exist, a batch fits. */
function checkTrainData(config: TrainConfig): TrainConfig {
  const { data } = config;
  if (data.dir !== undefined) {
    if (!isAbsolute(data.dir)) throw new ValidationError(`data.dir must be an absolute path (got "${data.dir}")`);
    if (!existsSync(data.dir) || !statSync(data.dir).isDirectory()) {
      throw new ValidationError(`data.dir ${data.dir} is not a folder`);
    }
  }
  if (data.kind === 'fashion-mnist' && !data.dir && !existsSync('/usr/share/datasets/fashion-mnist')) {
    throw new ValidationError(
      'Fashion-MNIST is not installed at /usr/share/datasets/fashion-mnist (apt-get install dataset-fashion-mnist), ' +
        'and no data.dir was given',
    );
  }
  if (data.kind === 'toy' && data.toy) {
    if (config.conditional && TOY_CLASSES[data.toy] === 0) {
      throw new ValidationError(`conditional training needs class labels, and toy:${data.toy} has none`);
    }
    if ((data.toySize ?? 0) < config.batchSize) {
      throw new ValidationError(
        `toy:${data.toy} holds ${data.toySize} points, fewer than one batch (${config.batchSize})`,
      );
    }
  }
  return config;
}
