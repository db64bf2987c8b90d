/**
 * The sampler lab: a form for one analytic sampling job, then the job's trajectory as it streams in, recorded
 * frame by frame so a timeline can scrub back through it.
 *
 * Frames live in a plain array (big typed buffers, never proxied); `recorded` is the reactive count that tells the
 * view a new frame exists. Frame k holds x at sigmas[k] and the x0 the model predicted there; the last frame of a
 * finished job is the final sample at sigma = 0.
 */
import type { AnalyticSampleRequest, Formulation, GridSchedule, JobEvent, SamplerName } from '../../../api/contract.ts';
import type { AppState } from './app.svelte.ts';

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

const DEFAULT_SCHEDULE: Record<Formulation, GridSchedule> = { vp: 'linear', sigma: 'karras' };

export class SamplerLabState {
  readonly #app: AppState;

  presetId = $state('ring-8');
  formulation = $state<Formulation>('vp');
  schedule = $state<GridSchedule>('linear');
  sampler = $state<SamplerName>('dpmpp-2m');
  steps = $state(20);
  eta = $state(1);
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

  #frames: Frame[] = [];
  #stop: (() => void) | undefined;

  // Deriveds run lazily (after the constructor has set #app), hence the .by form for those that read it.
  samplerInfo = $derived.by(() => this.#app.info?.samplers.find((s) => s.name === this.sampler));
  hasEta = $derived(typeof this.samplerInfo?.defaults.eta === 'number');
  preset = $derived.by(() => this.#app.info?.mixturePresets.find((p) => p.id === this.presetId));
  maxSteps = $derived.by(() => this.#app.info?.limits.maxSteps ?? 1000);
  busy = $derived(this.status === 'starting' || this.status === 'running' || this.status === 'cancelling');

  /** Why the form cannot run, or null. */
  invalid = $derived.by(() => {
    if (!Number.isInteger(this.steps) || this.steps < 1 || this.steps > this.maxSteps) {
      return `Steps must be a whole number from 1 to ${this.maxSteps}.`;
    }
    if (!Number.isInteger(this.n) || this.n < 1 || this.n > LAB_MAX_SAMPLES) {
      return `Samples must be a whole number from 1 to ${LAB_MAX_SAMPLES}.`;
    }
    if (!Number.isSafeInteger(this.seed) || this.seed < 0) return 'Seed must be a whole number, 0 or more.';
    if (this.hasEta && !(this.eta >= 0 && Number.isFinite(this.eta))) return 'Eta must be a number, 0 or more.';
    return null;
  });

  viewIndex = $derived(this.recorded === 0 ? -1 : Math.min(this.selected ?? this.recorded - 1, this.recorded - 1));
  frame = $derived<Frame | null>(this.viewIndex >= 0 ? this.#frames[this.viewIndex] : null);
  /** log SNR = log(alpha-bar / (1 - alpha-bar)) = -2 log sigma (+Infinity at sigma = 0). */
  logSnr = $derived(this.frame ? -2 * Math.log(this.frame.sigma) : null);

  /** Half-width of the plotted square: the data with its spread, and at least the N(0, 1) prior's bulk. */
  extent = $derived.by(() => {
    const m = this.preset?.mixture;
    if (!m) return 3.5;
    let r = 3;
    m.means.forEach((mu, k) => (r = Math.max(r, ...mu.map((v) => Math.abs(v) + 3 * m.stds[k]))));
    return r * 1.08;
  });

  constructor(app: AppState) {
    this.#app = app;
  }

  setFormulation(f: Formulation): void {
    this.formulation = f;
    this.schedule = DEFAULT_SCHEDULE[f];
  }

  setSampler(name: SamplerName): void {
    this.sampler = name;
    const eta = this.#app.info?.samplers.find((s) => s.name === name)?.defaults.eta;
    if (typeof eta === 'number') this.eta = eta;
  }

  /** Scrub to a recorded frame; past the newest one means "follow live". */
  select(index: number): void {
    this.selected = index >= this.recorded - 1 && this.busy ? null : Math.max(0, Math.min(index, this.recorded - 1));
  }

  followLive(): void {
    this.selected = null;
  }

  request(): AnalyticSampleRequest {
    return {
      mixture: { preset: this.presetId },
      formulation: this.formulation,
      schedule: this.schedule,
      steps: this.steps,
      sampler: this.sampler,
      samplerOptions: this.hasEta ? { eta: this.eta } : {},
      seed: this.seed,
      n: this.n,
    };
  }

  async run(): Promise<void> {
    if (this.busy || this.invalid) return;
    this.#reset();
    this.status = 'starting';
    const request = this.request();
    try {
      const { jobId, stop } = await this.#app.jobs.start(
        () => this.#app.api.sampleAnalytic(request),
        (event) => this.#onEvent(event),
      );
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
        this.threadId = event.threadId;
        return;
      case 'job-step':
        this.totalSteps = event.steps;
        this.#push({ index: event.i, sigma: event.sigma, nfe: event.nfe, x: event.x, x0: event.x0Pred });
        return;
      case 'job-done':
        this.#push({ index: this.totalSteps, sigma: 0, nfe: event.nfe, x: event.x, x0: event.x });
        this.ms = event.ms;
        this.sampleSetId = event.sampleSetId;
        this.threadId = event.threadId;
        this.#finish('done');
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
