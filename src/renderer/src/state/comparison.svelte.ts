/**
 * The Compare page: a form for a comparison (source, samplers, step counts, an optional eta or guidance axis, seed,
 * n), the matrix filling in as cells finish, a cell's stored trajectory (or two, aligned by noise level), the saved
 * comparisons to reopen or re-run, and grid exports. Cell samples are plain Float32Arrays held raw (never proxied).
 */
import type {
  ComparisonCellInfo,
  ComparisonEvent,
  ComparisonExport,
  ComparisonRequest,
  ComparisonSummary,
  ComparisonTrajectory,
  ComparisonView,
  Formulation,
  GridSchedule,
  SamplerName,
} from '../../../api/contract.ts';
import { mergedSigmas, nearestSigmaIndex } from '../lib/sigma-align.ts';
import type { AppState } from './app.svelte.ts';

export interface MatrixCell {
  info: ComparisonCellInfo;
  samples: Float32Array;
}

export type CompareStatus = 'idle' | 'starting' | 'running' | 'cancelling' | 'done' | 'cancelled' | 'error';

const DEFAULT_SCHEDULE: Record<Formulation, GridSchedule> = { vp: 'linear', sigma: 'karras' };

/** "5, 10, 20" -> [5, 10, 20]; null when any entry is not a number. */
export function parseList(text: string): number[] | null {
  const parts = text
    .split(/[\s,]+/)
    .map((s) => s.trim())
    .filter((s) => s !== '');
  if (parts.length === 0) return null;
  const values = parts.map(Number);
  return values.every(Number.isFinite) ? values : null;
}

export class ComparisonState {
  readonly #app: AppState;

  // ---- the form ----
  sourceKind = $state<'mixture' | 'run'>('mixture');
  presetId = $state('ring-8');
  formulation = $state<Formulation>('vp');
  schedule = $state<GridSchedule>('linear');
  runId = $state('');
  ema = $state(false);
  samplers = $state<SamplerName[]>(['euler', 'dpmpp-2m']);
  stepsText = $state('10, 20');
  axis = $state<'none' | 'eta' | 'guidance'>('none');
  axisText = $state('0, 1');
  seed = $state(0);
  n = $state(500);

  // ---- the comparison on screen ----
  status = $state<CompareStatus>('idle');
  error = $state<string | null>(null);
  jobId = $state<string | null>(null);
  comparisonId = $state<string | null>(null);
  name = $state('');
  rows = $state.raw<string[]>([]);
  steps = $state.raw<number[]>([]);
  shape = $state.raw<number[]>([2]);
  cellsTotal = $state(0);
  cells = $state.raw<(MatrixCell | undefined)[]>([]);
  reference = $state.raw<ComparisonView['reference']>(null);
  progress = $state<{ cell: number; i: number; steps: number } | null>(null);

  // ---- trajectories: the opened cell and an optional second one, aligned by sigma ----
  trajectory = $state.raw<ComparisonTrajectory | null>(null);
  second = $state.raw<ComparisonTrajectory | null>(null);
  pickSecond = $state(false);
  /** Position on the shared sigma axis. */
  sigmaIndex = $state(0);

  saved = $state.raw<ComparisonSummary[]>([]);
  exported = $state.raw<ComparisonExport | null>(null);
  exporting = $state(false);

  #stop: (() => void) | undefined;

  constructor(app: AppState) {
    this.#app = app;
  }

  busy = $derived(this.status === 'starting' || this.status === 'running' || this.status === 'cancelling');
  doneCells = $derived(this.cells.filter(Boolean).length);
  isImage = $derived(this.shape.length === 3);
  runs = $state.raw<{ id: string; name: string }[]>([]);

  /** Half-width of every scatter: the finished cells' spread, at least the N(0, 1) bulk. */
  extent = $derived.by(() => {
    let m = 2.5;
    for (const c of this.cells) {
      if (!c) continue;
      for (let i = 0; i < c.samples.length; i++) {
        const v = Math.abs(c.samples[i]);
        if (v > m && v < 50) m = v;
      }
    }
    return Math.ceil(m * 1.1 * 2) / 2;
  });

  /** Why the form cannot run, or null. */
  invalid = $derived.by(() => {
    if (this.samplers.length === 0) return 'Pick at least one sampler.';
    const steps = parseList(this.stepsText);
    if (!steps || steps.some((s) => !Number.isInteger(s) || s < 1 || s > 1000)) {
      return 'Steps must be whole numbers from 1 to 1000, separated by commas.';
    }
    if (this.axis !== 'none' && !parseList(this.axisText)) return `${this.axis} values must be numbers.`;
    if (!Number.isSafeInteger(this.seed) || this.seed < 0) return 'Seed must be a whole number, 0 or more.';
    if (!Number.isInteger(this.n) || this.n < 1) return 'Samples must be a whole number, 1 or more.';
    if (this.sourceKind === 'run' && !this.runId) return 'Pick a run.';
    return null;
  });

  /** The shared sigma axis of the opened trajectories. */
  sigmaAxis = $derived.by(() => {
    if (!this.trajectory) return [];
    return this.second ? mergedSigmas(this.trajectory.sigmas, this.second.sigmas) : this.trajectory.sigmas;
  });
  sigma = $derived(this.sigmaAxis[Math.min(this.sigmaIndex, this.sigmaAxis.length - 1)] ?? 0);

  /** Step of a trajectory shown at the current position on the sigma axis. */
  stepOf(t: ComparisonTrajectory): number {
    return nearestSigmaIndex(t.sigmas, this.sigma);
  }

  setFormulation(f: Formulation): void {
    this.formulation = f;
    this.schedule = DEFAULT_SCHEDULE[f];
  }

  toggleSampler(name: SamplerName, on: boolean): void {
    this.samplers = on ? [...this.samplers.filter((s) => s !== name), name] : this.samplers.filter((s) => s !== name);
  }

  request(): ComparisonRequest {
    const steps = parseList(this.stepsText) ?? [];
    const axis = this.axis === 'none' ? {} : { [this.axis]: parseList(this.axisText) ?? [] };
    const source: ComparisonRequest['source'] =
      this.sourceKind === 'mixture'
        ? {
            kind: 'mixture',
            mixture: { preset: this.presetId },
            formulation: this.formulation,
            schedule: this.schedule,
          }
        : { kind: 'run', run: this.runId, ...(this.ema ? { ema: true } : {}) };
    // Keep the samplers in the order the app lists them, so rows read the same whatever the click order.
    const order = this.#app.info?.samplers.map((s) => s.name) ?? [];
    const samplers = [...this.samplers].sort((a, b) => order.indexOf(a) - order.indexOf(b));
    return { source, samplers, steps, ...axis, n: this.n, seed: this.seed };
  }

  async loadSaved(): Promise<void> {
    try {
      this.saved = await this.#app.api.listComparisons();
      const runs = await this.#app.api.listRuns();
      this.runs = runs
        .filter((r) => r.kind === 'train' || r.kind === 'import')
        .map((r) => ({ id: r.id, name: r.name }));
    } catch (e) {
      this.error = (e as Error).message;
    }
  }

  async run(): Promise<void> {
    if (this.busy || this.invalid) return;
    await this.#start(() => this.#app.api.startComparison(this.request()));
  }

  async rerun(id: string): Promise<void> {
    if (this.busy) return;
    await this.#start(() => this.#app.api.rerunComparison(id));
  }

  async cancel(): Promise<void> {
    if (!this.jobId || !this.busy) return;
    this.status = 'cancelling';
    await this.#app.api.cancelJob(this.jobId);
  }

  /** Shows a stored comparison (finished, cancelled or failed) as it was left. */
  async open(id: string): Promise<void> {
    if (this.busy) return;
    try {
      const view = await this.#app.api.openComparison(id);
      this.#reset(view.id, view.name);
      this.rows = view.rows;
      this.steps = view.steps;
      this.shape = view.shape;
      this.cellsTotal = view.cellsTotal;
      const cells: (MatrixCell | undefined)[] = Array(view.cellsTotal).fill(undefined);
      for (const c of view.cells) {
        const { samples, ...info } = c;
        cells[c.index] = { info, samples: Float32Array.from(samples) };
      }
      this.cells = cells;
      this.reference = view.reference;
      this.#fillForm(view.request);
      this.status = view.status === 'completed' ? 'done' : view.status === 'cancelled' ? 'cancelled' : 'error';
      this.error =
        view.error ??
        (view.status === 'interrupted' ? 'Interrupted: the studio stopped before this comparison finished.' : null);
    } catch (e) {
      this.error = (e as Error).message;
    }
  }

  /** Opens a cell's trajectory; with "pick second" on, opens it beside the first instead. */
  async openCell(index: number): Promise<void> {
    if (!this.comparisonId || !this.cells[index]) return;
    try {
      const t = await this.#app.api.comparisonTrajectory({ id: this.comparisonId, cell: index });
      if (this.pickSecond && this.trajectory && this.trajectory.cell !== index) {
        this.second = t;
        this.pickSecond = false;
      } else {
        this.trajectory = t;
        this.second = null;
        this.sigmaIndex = 0;
      }
    } catch (e) {
      this.error = (e as Error).message;
    }
  }

  closeTrajectory(): void {
    this.trajectory = null;
    this.second = null;
  }

  async exportGrid(): Promise<void> {
    if (!this.comparisonId || this.exporting) return;
    this.exporting = true;
    this.exported = null;
    try {
      this.exported = await this.#app.api.exportComparisonGrid({ id: this.comparisonId });
    } catch (e) {
      this.error = (e as Error).message;
    } finally {
      this.exporting = false;
    }
  }

  cellLabel(c: ComparisonCellInfo): string {
    return `${c.row}, ${c.steps} steps`;
  }

  /** The form shows the opened comparison's request, so a tweak and Run starts from it. */
  #fillForm(r: ComparisonRequest): void {
    const src = r.source;
    this.sourceKind = src.kind;
    if (src.kind === 'mixture') {
      if ('preset' in src.mixture) this.presetId = src.mixture.preset;
      this.formulation = src.formulation;
      this.schedule = src.schedule;
    } else {
      this.runId = src.run;
      this.ema = !!src.ema;
    }
    this.samplers = [...r.samplers];
    this.stepsText = r.steps.join(', ');
    this.axis = r.eta ? 'eta' : r.guidance ? 'guidance' : 'none';
    if (r.eta || r.guidance) this.axisText = (r.eta ?? r.guidance ?? []).join(', ');
    this.seed = r.seed;
    this.n = r.n;
  }

  #reset(id: string | null, name: string): void {
    this.#stop?.();
    this.#stop = undefined;
    this.comparisonId = id;
    this.name = name;
    this.jobId = null;
    this.error = null;
    this.cells = [];
    this.rows = [];
    this.steps = [];
    this.reference = null;
    this.progress = null;
    this.trajectory = null;
    this.second = null;
    this.exported = null;
  }

  async #start(begin: () => Promise<{ jobId: string; comparisonId: string }>): Promise<void> {
    this.#reset(null, '');
    this.status = 'starting';
    try {
      let comparisonId = '';
      const { jobId, stop } = await this.#app.jobs.start<ComparisonEvent>(
        async () => {
          const handle = await begin();
          comparisonId = handle.comparisonId;
          return handle;
        },
        (event) => this.#onEvent(event),
      );
      this.#stop = stop;
      this.jobId = jobId;
      this.comparisonId = comparisonId;
      if (this.status === 'starting') this.status = 'running';
    } catch (e) {
      this.status = 'error';
      this.error = (e as Error).message;
    }
  }

  #onEvent(event: ComparisonEvent): void {
    switch (event.type) {
      case 'comparison-started':
        this.comparisonId = event.comparisonId;
        this.rows = event.rows;
        this.steps = event.steps;
        this.shape = event.shape;
        this.cellsTotal = event.cellsTotal;
        this.cells = Array(event.cellsTotal).fill(undefined);
        if (this.status === 'starting') this.status = 'running';
        return;
      case 'comparison-step':
        this.progress = { cell: event.cell, i: event.i, steps: event.steps };
        return;
      case 'comparison-cell': {
        const cells = [...this.cells];
        // The event's buffer belongs to the transport's frame: keep a copy of our own.
        cells[event.cell.index] = { info: event.cell, samples: Float32Array.from(event.samples) };
        this.cells = cells;
        return;
      }
      case 'comparison-done':
        this.reference = event.reference;
        this.#finish('done');
        return;
      case 'comparison-cancelled':
        this.#finish('cancelled');
        return;
      case 'comparison-error':
        this.error = event.error.message;
        this.#finish('error');
        return;
    }
  }

  #finish(status: CompareStatus): void {
    this.status = status;
    this.progress = null;
    this.#stop?.();
    this.#stop = undefined;
    void this.loadSaved().then(() => {
      const row = this.saved.find((c) => c.id === this.comparisonId);
      if (row) this.name = row.name;
    });
  }
}
