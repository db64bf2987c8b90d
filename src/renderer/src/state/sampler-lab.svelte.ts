/**
 * The sampler lab: a form for one sampling job (an analytic 2-D mixture, or a trained / imported run's network),
 * then the job's trajectory as it streams in, recorded frame by frame so a timeline can scrub back through it. A
 * stored trajectory reopens through the same path: the service plays it back as the events of a job.
 *
 * Frames live in a plain array (big typed buffers, never proxied); `recorded` is the reactive count that tells the
 * view a new frame exists. Frame k holds x (sigma space) at sigmas[k] and the x0 the model predicted there; the
 * last frame of a finished job is the final sample at sigma = 0. Run jobs carry their first `preview` samples.
 */
import type {
  AnalyticSampleRequest,
  Formulation,
  GridSchedule,
  JobEvent,
  JobHandle,
  RunSampleRequest,
  SamplerName,
  SamplerOptionValue,
  TrajectorySummary,
} from '../../../api/contract.ts';
import type { AppState } from './app.svelte.ts';
import { LabLibrary } from './lab-library.svelte.ts';
import { LabRunSource } from './lab-run-source.svelte.ts';

export interface Frame {
  index: number;
  sigma: number;
  nfe: number;
  x: Float32Array;
  x0: Float32Array;
}

export type LabStatus = 'idle' | 'starting' | 'running' | 'cancelling' | 'done' | 'cancelled' | 'error';

/** Recording every step of n points costs steps * n * 16 bytes; this keeps a 1000-step run under 64 MB. */
export const LAB_MAX_SAMPLES = 4000;
/** A run job's samples in the lab: every one of them streams its x_t and x0 (images: 64 of 28x28 is 200 kB a step). */
export const LAB_MAX_RUN_SAMPLES = 64;

export type LabSource = 'mixture' | 'run';

/** A sampler option's key as a form label: s_churn -> "S churn", lowerOrderFinal -> "Lower order final". */
export function optionLabel(key: string): string {
  const words = key
    .replace(/_/g, ' ')
    .replace(/([a-z])([A-Z])/g, '$1 $2')
    .toLowerCase();
  return words.charAt(0).toUpperCase() + words.slice(1);
}

/** The values string options take (the samplers check them too). */
export const OPTION_CHOICES: Record<string, string[]> = {
  variance: ['beta-tilde', 'beta', 'learned'],
  solver_type: ['midpoint', 'heun'],
  variant: ['bh1', 'bh2'],
};

const DEFAULT_SCHEDULE: Record<Formulation, GridSchedule> = { vp: 'linear', sigma: 'karras' };

export class SamplerLabState {
  readonly #app: AppState;
  readonly runSource: LabRunSource;
  readonly library: LabLibrary;

  source = $state<LabSource>('mixture');
  presetId = $state('ring-8');
  formulation = $state<Formulation>('vp');
  schedule = $state<GridSchedule>('linear');
  sampler = $state<SamplerName>('dpmpp-2m');
  steps = $state(20);
  /** Sampler options the user changed; the rest keep the sampler's defaults. */
  optionOverrides = $state<Record<string, SamplerOptionValue>>({});
  seed = $state(0);
  n = $state(1000);

  status = $state<LabStatus>('idle');
  error = $state<string | null>(null);
  jobId = $state<string | null>(null);
  totalSteps = $state(0);
  threadId = $state<number | null>(null);
  ms = $state<number | null>(null);
  sampleSetId = $state<string | null>(null);
  /** Number of frames recorded so far. */
  recorded = $state(0);
  /** The frame the user scrubbed to; null follows the newest one. */
  selected = $state<number | null>(null);
  /** One sample's shape in the current trajectory: [2] points or [H, W, C] images. */
  shape = $state.raw<number[]>([2]);
  engine = $state<string | null>(null);
  /** Steps done of all steps (run jobs sample in chunks; only the first chunk's steps carry pictures). */
  progressDone = $state(0);
  progressTotal = $state(0);
  /** The stored trajectory on view when it was reopened rather than computed. */
  reopened = $state.raw<TrajectorySummary | null>(null);
  /** What the trajectory on view was sampled from (the form's source may have changed since). */
  viewSource = $state<LabSource>('mixture');

  #frames: Frame[] = [];
  #stop: (() => void) | undefined;

  // Deriveds run lazily (after the constructor has set #app), hence the .by form for those that read it.
  samplerInfo = $derived.by(() => this.#app.info?.samplers.find((s) => s.name === this.sampler));
  /** The sampler's options the form offers: every default JSON could carry (an Infinity default arrives as null). */
  optionKeys = $derived(
    Object.entries(this.samplerInfo?.defaults ?? {})
      .filter(([, v]) => v !== null && (typeof v !== 'number' || Number.isFinite(v)))
      .map(([k]) => k),
  );
  /** Every offered option with its value: the user's, else the default. */
  samplerOptions = $derived(
    Object.fromEntries(
      this.optionKeys.map((k) => [k, this.optionOverrides[k] ?? this.samplerInfo!.defaults[k]]),
    ) as Record<string, SamplerOptionValue>,
  );
  preset = $derived.by(() => this.#app.info?.mixturePresets.find((p) => p.id === this.presetId));
  maxSteps = $derived.by(() => this.#app.info?.limits.maxSteps ?? 1000);
  busy = $derived(this.status === 'starting' || this.status === 'running' || this.status === 'cancelling');

  /** Steps the chosen source allows: a run cannot take more than its own timesteps. */
  stepLimit = $derived.by(() =>
    this.source === 'run' ? Math.min(this.maxSteps, this.runSource.timesteps) : this.maxSteps,
  );
  sampleLimit = $derived(this.source === 'run' ? LAB_MAX_RUN_SAMPLES : LAB_MAX_SAMPLES);
  isImage = $derived(this.shape.length === 3);

  /** Why the form cannot run, or null. */
  invalid = $derived.by(() => {
    if (this.source === 'run' && this.runSource.invalid) return this.runSource.invalid;
    if (!Number.isInteger(this.steps) || this.steps < 1 || this.steps > this.stepLimit) {
      return `Steps must be a whole number from 1 to ${this.stepLimit}.`;
    }
    if (!Number.isInteger(this.n) || this.n < 1 || this.n > this.sampleLimit) {
      return `Samples must be a whole number from 1 to ${this.sampleLimit}.`;
    }
    if (!Number.isSafeInteger(this.seed) || this.seed < 0) return 'Seed must be a whole number, 0 or more.';
    for (const [key, value] of Object.entries(this.samplerOptions)) {
      if (typeof value === 'number' && !Number.isFinite(value)) return `Option ${optionLabel(key)} must be a number.`;
    }
    return null;
  });

  viewIndex = $derived(this.recorded === 0 ? -1 : Math.min(this.selected ?? this.recorded - 1, this.recorded - 1));
  frame = $derived<Frame | null>(this.viewIndex >= 0 ? this.#frames[this.viewIndex] : null);
  /** log SNR = log(alpha-bar / (1 - alpha-bar)) = -2 log sigma (+Infinity at sigma = 0). */
  logSnr = $derived(this.frame ? -2 * Math.log(this.frame.sigma) : null);

  /** The mixture drawn behind the points: the chosen preset's, for mixture trajectories only. */
  viewingMixture = $derived(this.viewSource === 'mixture');
  reference = $derived(this.viewingMixture ? (this.preset?.mixture ?? null) : null);
  /** Steps done as a fraction, for the progress bar. */
  progress = $derived(this.progressTotal > 0 ? Math.min(1, this.progressDone / this.progressTotal) : 0);
  /** The stored trajectory behind the current view (exports need it). */
  trajectoryId = $derived(this.status === 'done' ? this.sampleSetId : null);

  /** Half-width of the plotted square: the data with its spread, and at least the N(0, 1) prior's bulk. */
  extent = $derived.by(() => {
    const m = this.reference;
    if (!m) return 3.5;
    let r = 3;
    m.means.forEach((mu, k) => (r = Math.max(r, ...mu.map((v) => Math.abs(v) + 3 * m.stds[k]))));
    return r * 1.08;
  });

  constructor(app: AppState) {
    this.#app = app;
    this.runSource = new LabRunSource(app.api);
    this.library = new LabLibrary(app.api);
  }

  /** Runs and stored trajectories, when the lab opens. */
  async load(): Promise<void> {
    await Promise.all([this.runSource.load(), this.library.refresh()]);
  }

  setSource(source: LabSource): void {
    this.source = source;
    if (source === 'run') {
      this.n = Math.min(this.n, 16);
      void this.runSource.load();
    }
  }

  setFormulation(f: Formulation): void {
    this.formulation = f;
    this.schedule = DEFAULT_SCHEDULE[f];
  }

  setOption(key: string, value: SamplerOptionValue): void {
    this.optionOverrides = { ...this.optionOverrides, [key]: value };
  }

  setSampler(name: SamplerName): void {
    this.sampler = name;
    this.optionOverrides = {};
  }

  /** Scrub to a recorded frame; past the newest one means "follow live". */
  select(index: number): void {
    this.selected = index >= this.recorded - 1 && this.busy ? null : Math.max(0, Math.min(index, this.recorded - 1));
  }

  followLive(): void {
    this.selected = null;
  }

  runRequest(): RunSampleRequest {
    const r = this.runSource;
    return {
      runId: r.runId,
      ...(r.checkpointId ? { checkpointId: r.checkpointId } : {}),
      ...(r.isImport ? {} : { ema: r.ema, engine: r.engine }),
      sampler: this.sampler,
      samplerOptions: { ...this.samplerOptions },
      steps: this.steps,
      n: this.n,
      preview: this.n,
      seed: this.seed,
      ...(r.conditional && r.classLabel !== '' ? { classLabel: Number(r.classLabel) } : {}),
      ...(r.conditional ? { guidance: r.guidance } : {}),
    };
  }

  request(): AnalyticSampleRequest {
    return {
      mixture: { preset: this.presetId },
      formulation: this.formulation,
      schedule: this.schedule,
      steps: this.steps,
      sampler: this.sampler,
      samplerOptions: { ...this.samplerOptions },
      seed: this.seed,
      n: this.n,
    };
  }

  async run(): Promise<void> {
    if (this.busy || this.invalid) return;
    const api = this.#app.api;
    if (this.source === 'run') {
      const request = this.runRequest();
      await this.#start(() => api.sampleRun(request), 'run');
    } else {
      const request = this.request();
      await this.#start(() => api.sampleAnalytic(request), 'mixture');
    }
  }

  /** Plays a stored trajectory back into the view. */
  async open(id: string): Promise<void> {
    if (this.busy) return;
    await this.#start(async () => {
      const { jobId, trajectory } = await this.#app.api.openTrajectory(id);
      this.reopened = trajectory;
      this.viewSource = trajectory.source === 'analytic' ? 'mixture' : 'run';
      // The form follows what is on view, so Run samples the same model again.
      this.source = this.viewSource;
      const preset = trajectory.source === 'analytic' ? trajectory.model.preset : null;
      if (typeof preset === 'string') this.presetId = preset;
      if (trajectory.runId && trajectory.runId !== this.runSource.runId) void this.runSource.select(trajectory.runId);
      return { jobId };
    }, this.viewSource);
  }

  async #start(begin: () => Promise<JobHandle>, source: LabSource): Promise<void> {
    this.#reset();
    this.viewSource = source;
    this.status = 'starting';
    try {
      const { jobId, stop } = await this.#app.jobs.start(begin, (event) => this.#onEvent(event));
      this.jobId = jobId;
      this.#stop = stop;
      if (!this.busy) stop(); // it already finished while the reply was on its way
    } catch (e) {
      this.status = 'error';
      this.error = (e as Error).message;
    }
  }

  async cancel(): Promise<void> {
    if (!this.jobId || (this.status !== 'running' && this.status !== 'starting')) return;
    this.status = 'cancelling';
    try {
      await this.#app.api.cancelJob(this.jobId);
    } catch (e) {
      this.error = (e as Error).message;
    }
  }

  #reset(): void {
    this.#stop?.();
    this.#stop = undefined;
    this.#frames = [];
    this.recorded = 0;
    this.selected = null;
    this.error = null;
    this.jobId = null;
    this.totalSteps = 0;
    this.threadId = null;
    this.ms = null;
    this.sampleSetId = null;
    this.engine = null;
    this.progressDone = 0;
    this.progressTotal = 0;
    this.reopened = null;
  }

  #push(frame: Frame): void {
    this.#frames.push(frame);
    this.recorded = this.#frames.length;
  }

  #finish(status: LabStatus): void {
    this.status = status;
    this.#stop?.();
    this.#stop = undefined;
  }

  #onEvent(event: JobEvent): void {
    switch (event.type) {
      case 'job-started':
        if (this.status === 'starting') this.status = 'running';
        this.totalSteps = event.steps;
        this.threadId = event.replay ? null : event.threadId;
        this.shape = event.shape ?? [event.dim];
        this.engine = event.engine ?? null;
        this.progressTotal = event.steps * (event.chunks ?? 1);
        return;
      case 'job-step':
        this.totalSteps = event.steps;
        this.progressDone = Math.max(this.progressDone, event.i + 1);
        this.#push({ index: event.i, sigma: event.sigma, nfe: event.nfe, x: event.x, x0: event.x0Pred });
        return;
      case 'job-progress':
        this.progressDone = event.done;
        this.progressTotal = event.total;
        return;
      case 'job-done':
        this.#push({ index: this.totalSteps, sigma: 0, nfe: event.nfe, x: event.x, x0: event.x });
        this.progressDone = this.progressTotal;
        this.ms = event.ms;
        this.sampleSetId = event.sampleSetId;
        if (event.threadId) this.threadId = event.threadId;
        this.#finish('done');
        if (!this.reopened) void this.library.refresh();
        return;
      case 'job-cancelled':
        this.#finish('cancelled');
        return;
      case 'job-error':
        this.error = event.error.message;
        this.#finish('error');
        return;
    }
  }
}
