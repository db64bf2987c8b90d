/**
 * The studio's service layer: the one implementation of the API contract, shared by the Electron and server hosts.
 * No Electron imports here. It owns the single read-write Store (the one database writer), turns requests into
 * worker jobs, and turns worker messages into contract events.
 */
import { randomUUID } from 'node:crypto';
import { mkdirSync } from 'node:fs';
import { availableParallelism, arch, platform } from 'node:os';
import { join } from 'node:path';
import type {
  AnalyticSampleRequest,
  AppInfo,
  EventListener,
  Host,
  JobHandle,
  RunSummary,
  SampleSet,
  ScheduleInfo,
  StudioCalls,
  StudioEvent,
} from '../api/contract.ts';
import { NotFoundError, serializeError, ValidationError } from '../api/errors.ts';
import type { GaussianMixture } from '../core/gmm.ts';
import type { GridSchedule } from '../core/noise-grid.ts';
import { getSampler, SAMPLER_NAMES } from '../core/samplers/index.ts';
import { openStore } from '../store/open.ts';
import type { Store } from '../store/store.ts';
import type { JsonObject } from '../store/types.ts';
import { ANALYTIC_LIMITS, checkSamplerOptions, planAnalyticSampling } from '../worker/analytic-plan.ts';
import type { FromSampleWorker, ResolvedAnalyticRequest } from '../worker/sample-messages.ts';
import { dataPaths, resolveDataDir } from './data-dir.ts';
import { JobRunner, type Job } from './job-runner.ts';
import { findPreset, MIXTURE_PRESETS } from './mixture-presets.ts';
import type { WorkerEntry } from './worker-entry.ts';

export interface StudioServiceOptions {
  host: Host;
  version: string;
  /** Defaults to $DIFFUSION_STUDIO_HOME, then ~/.diffusion-studio. */
  dataDir?: string;
  /** Where each kind of worker's code lives (hosts know how they were built). */
  workers: { sample: WorkerEntry };
  /** Jobs running at once; default: one core left for the host's main thread. */
  maxConcurrentJobs?: number;
}

interface SampleMeta {
  preset: string | null;
  request: ResolvedAnalyticRequest;
  outPath: string;
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
  readonly #jobs: JobRunner<SampleMeta>;
  readonly #workers: number;
  readonly #samplesDir: string;
  #closed = false;

  /** Opens (and migrates) the database and marks runs a previous session left running as interrupted. */
  constructor(private readonly options: StudioServiceOptions) {
    this.dataDir = resolveDataDir(options.dataDir);
    const paths = dataPaths(this.dataDir);
    mkdirSync(paths.samples, { recursive: true });
    this.#samplesDir = paths.samples;
    this.#store = openStore(paths.database);
    this.#store.markInterrupted();
    this.#workers = options.maxConcurrentJobs ?? Math.max(1, availableParallelism() - 1);
    this.#jobs = new JobRunner<SampleMeta>(options.workers.sample, this.#workers, {
      message: (job, message) => this.#onWorkerMessage(job, message),
      ended: (job, outcome) =>
        this.#emit(
          outcome.cancelled
            ? { type: 'job-cancelled', jobId: job.id, completedSteps: job.completedSteps }
            : { type: 'job-error', jobId: job.id, error: serializeError(outcome.error) },
        ),
    });
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
    const job: Job<SampleMeta> = {
      id: jobId,
      start: { type: 'start', jobId, request: { ...resolved, mixture: plan.mixture }, outPath },
      meta: { preset, request: { ...resolved, mixture: plan.mixture }, outPath },
      completedSteps: 0,
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

  /** Stops every job and closes the database. */
  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    await this.#jobs.close();
    this.#store.close();
    this.#listeners.clear();
  }

  #checkOpen(): void {
    if (this.#closed) throw new Error('the studio service is closed');
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

  #onWorkerMessage(job: Job<SampleMeta>, message: FromSampleWorker): void {
    const jobId = job.id;
    switch (message.type) {
      case 'started':
        this.#emit({
          type: 'job-started',
          jobId,
          kind: 'sample-analytic',
          steps: message.steps,
          n: message.n,
          dim: message.dim,
          sigmas: message.sigmas,
          formulation: job.meta.request.formulation,
          threadId: message.threadId,
        });
        return;
      case 'step':
        this.#emit({ ...message, type: 'job-step', jobId });
        return;
      case 'done': {
        const sampleSetId = this.#recordSampleSet(job, message.path);
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

  #recordSampleSet(job: Job<SampleMeta>, path: string): string {
    const { request, preset } = job.meta;
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
      options: { ...getSampler(request.sampler).defaults, ...request.samplerOptions } as JsonObject,
      seed: request.seed,
      n: request.n,
      path,
    });
    return set.id;
  }
}
