/**
 * The sampler lab's "trained run" source: which run (trained with a checkpoint, or imported), which checkpoint, raw
 * or EMA weights, which engine, and for conditional runs the class and guidance scale. The server checks all of it
 * again (sampleRun); this only offers what makes sense for the chosen run.
 */
import type { RunDetail, RunSummary, StudioApi } from '../../../api/contract.ts';

export type LabEngine = 'tfjs' | 'onnx';

export class LabRunSource {
  readonly #api: StudioApi;

  runs = $state.raw<RunSummary[]>([]);
  runId = $state('');
  detail = $state.raw<RunDetail | null>(null);
  /** '' = the run's newest checkpoint. */
  checkpointId = $state('');
  ema = $state(true);
  engine = $state<LabEngine>('tfjs');
  /** '' = classes in turn. */
  classLabel = $state('');
  guidance = $state(1);
  error = $state<string | null>(null);

  /** Runs that can be sampled: trained ones with a checkpoint, and imports. */
  samplable = $derived(this.runs.filter((r) => r.kind === 'import' || (r.kind === 'train' && r.checkpointCount > 0)));
  run = $derived(this.detail?.run ?? null);
  isImport = $derived(this.run?.kind === 'import');
  /** Imports record their class count; trained runs say whether they are conditional. */
  conditional = $derived.by(() => {
    const run = this.run;
    if (!run) return false;
    if (run.kind === 'import') return Number(run.config.classes ?? 0) > 0;
    return this.detail?.config?.conditional === true;
  });
  numClasses = $derived.by(() => (this.run?.kind === 'import' ? Number(this.run.config.classes ?? 0) : null));
  timesteps = $derived.by(() => {
    const run = this.run;
    if (!run) return 1000;
    const t = run.kind === 'import' ? run.config.timesteps : this.detail?.config?.timesteps;
    return typeof t === 'number' ? t : 1000;
  });
  checkpoints = $derived(this.detail?.checkpoints ?? []);

  constructor(api: StudioApi) {
    this.#api = api;
  }

  async load(): Promise<void> {
    try {
      this.runs = await this.#api.listRuns();
      this.error = null;
      if (!this.samplable.some((r) => r.id === this.runId)) {
        const first = this.samplable[0];
        if (first) await this.select(first.id);
        else this.detail = null;
      }
    } catch (e) {
      this.error = (e as Error).message;
    }
  }

  async select(runId: string): Promise<void> {
    this.runId = runId;
    this.checkpointId = '';
    this.classLabel = '';
    this.detail = null;
    if (!runId) return;
    try {
      const detail = await this.#api.getRun(runId);
      if (this.runId !== runId) return; // another choice came in meanwhile
      this.detail = detail;
      this.engine = 'onnx'; // onnxruntime is the fast path (6-8x tfjs-wasm); tfjs stays one click away
      if (detail.run.kind === 'import') this.ema = false;
      this.error = null;
    } catch (e) {
      this.error = (e as Error).message;
    }
  }

  /** Why the source cannot be sampled, or null. */
  invalid = $derived.by(() => {
    if (!this.runId) return 'Pick a trained or imported run (train one on the Runs page).';
    if (!this.detail) return 'Loading the run…';
    if (this.conditional) {
      if (this.classLabel !== '' && !/^\d+$/.test(this.classLabel)) return 'Class must be a whole number, 0 or more.';
      if (!(Number.isFinite(this.guidance) && this.guidance >= 0 && this.guidance <= 100)) {
        return 'Guidance must be a number from 0 to 100.';
      }
    }
    return null;
  });
}
