/**
 * One training run as its detail view shows it: the row, config and checkpoints, the loss curve (every step, pulled
 * from the stored metrics as progress reports arrive), the latest progress report, per-timestep-bucket losses, the
 * latest preview and the log. The control calls (start / pause / resume / stop) live here too.
 */
import type {
  ForkOverrides,
  RunDetail,
  StudioApi,
  StudioEvent,
  TrainPreviewEvent,
  TrainProgress,
  TrainState,
} from '../../../api/contract.ts';
import { trainState } from '../lib/train-format.ts';
import { BUCKET_NAMES, LOSS_BUCKETS, RunHistory } from './run-history.svelte.ts';

export { LOSS_BUCKETS };
const MAX_LOG_LINES = 200;

export interface LossSeries {
  steps: number[];
  values: number[];
}

export class RunDetailState {
  readonly runId: string;
  detail = $state.raw<RunDetail | null>(null);
  state = $state<TrainState>('created');
  progress = $state.raw<TrainProgress | null>(null);
  preview = $state.raw<TrainPreviewEvent | null>(null);
  /** Latest per-bucket losses and the step they were reported at. */
  buckets = $state.raw<(number | null)[]>(new Array(LOSS_BUCKETS).fill(null));
  bucketStep = $state<number | null>(null);
  loss = $state.raw<LossSeries>({ steps: [], values: [] });
  logs = $state.raw<string[]>([]);
  runError = $state<string | null>(null);
  loadError = $state<string | null>(null);
  actionError = $state<string | null>(null);
  /** A control call is in flight. */
  busy = $state(false);
  logScale = $state(true);
  /** EMA weight of the smoothed curve, 0 (raw) .. 0.99. */
  smoothing = $state(0.9);
  /** Bucket losses over training (heatmap) and the previews kept at checkpoints (film strip). */
  readonly history = new RunHistory();
  /** What the last checkpoint action changed, in words (e.g. a rollback after deleting the newest one). */
  notice = $state<string | null>(null);

  readonly #api: StudioApi;
  readonly #off: () => void;
  #pulling = false;
  #pullAgain = false;

  constructor(api: StudioApi, runId: string, preview: TrainPreviewEvent | null) {
    this.#api = api;
    this.runId = runId;
    this.preview = preview;
    this.#off = api.onEvent((event) => this.#onEvent(event));
  }

  get config() {
    return this.detail?.config ?? null;
  }

  get step(): number {
    // Progress reports are throttled; the loss points, the row and a preview may each be newer.
    return Math.max(
      this.progress?.step ?? 0,
      this.detail?.run.lastStep ?? 0,
      this.loss.steps.at(-1) ?? 0,
      this.preview?.step ?? 0,
    );
  }

  get totalSteps(): number {
    return this.progress?.totalSteps ?? this.config?.steps ?? 0;
  }

  get lastLoss(): number | null {
    return this.loss.values.at(-1) ?? this.progress?.loss ?? this.detail?.run.lastLoss ?? null;
  }

  get engine(): string | null {
    return this.progress?.backend ?? this.detail?.run.engine ?? null;
  }

  /** Whether the run has a checkpoint to continue from (so the primary action reads Resume). */
  get resumable(): boolean {
    return (this.detail?.checkpoints.length ?? 0) > 0;
  }

  get canStart(): boolean {
    return (
      !this.busy && !!this.detail && ['created', 'stopped', 'interrupted', 'failed', 'paused'].includes(this.state)
    );
  }

  get canPause(): boolean {
    return !this.busy && this.state === 'running';
  }

  get canStop(): boolean {
    return !this.busy && (this.state === 'running' || this.state === 'paused');
  }

  async load(): Promise<void> {
    try {
      const detail = await this.#api.getRun(this.runId);
      this.detail = detail;
      this.state = trainState(detail.run.status);
      this.runError = detail.run.error;
      const metrics = await this.#api.runMetrics({ runId: this.runId, names: ['loss', ...BUCKET_NAMES] });
      this.loss = { steps: metrics.loss.map((p) => p.step), values: metrics.loss.map((p) => p.value) };
      this.history.setBuckets(metrics);
      void this.history.loadFrames(this.#api, this.runId);
      if (this.bucketStep === null) {
        const last = BUCKET_NAMES.map((name) => metrics[name].at(-1) ?? null);
        const step = Math.max(-1, ...last.map((p) => p?.step ?? -1));
        if (step >= 0) {
          // Buckets of the latest report only: a bucket with no sample in that window shows as empty.
          this.buckets = last.map((p) => (p && p.step === step ? p.value : null));
          this.bucketStep = step;
        }
      }
      this.loadError = null;
    } catch (e) {
      this.loadError = (e as Error).message;
    }
  }

  /** Start (fresh or from the latest checkpoint), or continue a paused run. */
  async start(): Promise<void> {
    await this.#act(async () => {
      if (this.state === 'paused') {
        await this.#api.resumeTraining(this.runId);
      } else {
        this.runError = null;
        await this.#api.startTraining(this.runId);
        this.state = 'running';
      }
    });
  }

  async pause(): Promise<void> {
    await this.#act(() => this.#api.pauseTraining(this.runId));
  }

  async stop(): Promise<void> {
    await this.#act(() => this.#api.stopTraining(this.runId));
  }

  async rename(name: string): Promise<boolean> {
    return this.#act(async () => {
      const run = await this.#api.renameRun({ runId: this.runId, name });
      if (this.detail) this.detail = { ...this.detail, run };
    });
  }

  async setPinned(checkpointId: string, pinned: boolean): Promise<boolean> {
    return this.#act(async () => {
      const updated = pinned
        ? await this.#api.pinCheckpoint(checkpointId)
        : await this.#api.unpinCheckpoint(checkpointId);
      if (this.detail) {
        const checkpoints = this.detail.checkpoints.map((c) => (c.id === updated.id ? updated : c));
        this.detail = { ...this.detail, checkpoints };
      }
    });
  }

  async deleteCheckpoint(checkpointId: string): Promise<boolean> {
    return this.#act(async () => {
      const result = await this.#api.deleteCheckpoint(checkpointId);
      this.notice = result.note ? `Checkpoint at step ${result.checkpoint.step} deleted: ${result.note}.` : null;
      await this.load();
    });
  }

  /** Forks from a checkpoint; resolves with the new run's id, or null (the message is in actionError). */
  async fork(checkpointId: string, name: string, overrides: ForkOverrides): Promise<string | null> {
    let id: string | null = null;
    await this.#act(async () => {
      const run = await this.#api.forkRun({ runId: this.runId, checkpointId, name, overrides });
      id = run.id;
    });
    return id;
  }

  async deleteRun(): Promise<boolean> {
    return this.#act(() => this.#api.deleteRun(this.runId));
  }

  dispose(): void {
    this.#off();
  }

  /** Runs a call; resolves false (keeping the service's message in actionError) when it failed. */
  async #act(action: () => Promise<unknown>): Promise<boolean> {
    this.busy = true;
    try {
      await action();
      this.actionError = null;
      return true;
    } catch (e) {
      this.actionError = (e as Error).message;
      return false;
    } finally {
      this.busy = false;
    }
  }

  async #refreshCheckpoints(): Promise<void> {
    try {
      const { checkpoints } = await this.#api.getRun(this.runId);
      if (this.detail) this.detail = { ...this.detail, checkpoints };
    } catch {
      /* the next event or load() tries again */
    }
  }

  /** Fetch the loss points after the last one held; one request at a time, coalescing bursts. */
  async #pull(): Promise<void> {
    if (this.#pulling) {
      this.#pullAgain = true;
      return;
    }
    this.#pulling = true;
    try {
      do {
        this.#pullAgain = false;
        const since = this.loss.steps.at(-1);
        const { loss } = await this.#api.runMetrics({
          runId: this.runId,
          names: ['loss'],
          ...(since !== undefined ? { sinceStep: since } : {}),
        });
        if (loss.length) {
          this.loss = {
            steps: this.loss.steps.concat(loss.map((p) => p.step)),
            values: this.loss.values.concat(loss.map((p) => p.value)),
          };
        }
      } while (this.#pullAgain);
    } catch (e) {
      this.loadError = (e as Error).message;
    } finally {
      this.#pulling = false;
    }
  }

  #onEvent(event: StudioEvent): void {
    if (!('runId' in event) || event.runId !== this.runId) return;
    switch (event.type) {
      case 'train-progress':
        this.progress = event.progress;
        this.buckets = event.progress.bucketLoss;
        this.bucketStep = event.progress.step;
        this.history.addReport(event.progress.step, event.progress.bucketLoss);
        if (this.state !== 'paused') this.state = 'running';
        void this.#pull();
        return;
      case 'train-preview':
        this.preview = event;
        // Previews at checkpoints are the ones kept for the film strip (the checkpoint event comes first).
        if (this.detail?.checkpoints.some((c) => c.step === event.step)) this.history.addFrame(event);
        return;
      case 'train-checkpoint':
        if (this.detail) {
          const checkpoints = this.detail.checkpoints.filter((c) => c.id !== event.checkpoint.id);
          this.detail = { ...this.detail, checkpoints: [...checkpoints, event.checkpoint] };
        }
        void this.#refreshCheckpoints(); // retention may have pruned older ones
        return;
      case 'train-log':
        this.logs = [...this.logs.slice(-(MAX_LOG_LINES - 1)), event.line];
        return;
      case 'train-state':
        this.state = event.state;
        if (event.error) this.runError = event.error;
        // A paused run has flushed its metrics: pull the steps since the last (throttled) report.
        if (event.state === 'paused') void this.#pull();
        if (event.state !== 'running' && event.state !== 'paused') {
          // Final: re-read the row (status, step, checkpoints pruned) and the last loss points.
          void this.load();
        }
        return;
    }
  }
}
