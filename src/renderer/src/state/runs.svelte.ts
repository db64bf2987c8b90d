/**
 * The Runs page: runs and recorded sample sets as the store lists them, kept current by training events, and the
 * page's route in the URL hash: #/runs (the list), #/runs/new (the form) or #/runs/<id> (a run's detail).
 */
import type { RunSummary, SampleSet, StudioApi, StudioEvent, TrainPreviewEvent } from '../../../api/contract.ts';
import { NewRunState } from './new-run.svelte.ts';
import { RunDetailState } from './run-detail.svelte.ts';

export type RunsView = { view: 'list' } | { view: 'new' } | { view: 'run'; runId: string };

function viewFromHash(): RunsView {
  const m = /^#\/?runs\/(.+)$/.exec(window.location.hash);
  if (!m) return { view: 'list' };
  const rest = decodeURIComponent(m[1]);
  return rest === 'new' ? { view: 'new' } : { view: 'run', runId: rest };
}

export function runHref(runId: string): string {
  return `#/runs/${encodeURIComponent(runId)}`;
}

export class RunsState {
  runs = $state.raw<RunSummary[]>([]);
  sampleSets = $state.raw<SampleSet[]>([]);
  loading = $state(false);
  error = $state<string | null>(null);
  /** The last rename or delete from the list failed with this message. */
  actionError = $state<string | null>(null);
  view = $state.raw<RunsView>(viewFromHash());
  detail = $state.raw<RunDetailState | null>(null);
  readonly form: NewRunState;

  readonly #api: StudioApi;
  /** The newest preview of every run seen this session, so a detail view opened later still shows one. */
  // Not reactive on purpose: only read when a detail view opens.
  // eslint-disable-next-line svelte/prefer-svelte-reactivity
  readonly #previews = new Map<string, TrainPreviewEvent>();
  #refreshQueued = false;

  constructor(api: StudioApi) {
    this.#api = api;
    this.form = new NewRunState(api);
    api.onEvent((event) => this.#onEvent(event));
    window.addEventListener('hashchange', () => this.#route());
    this.#route();
  }

  async refresh(): Promise<void> {
    this.loading = true;
    try {
      const [runs, sampleSets] = await Promise.all([this.#api.listRuns(), this.#api.listSampleSets()]);
      this.runs = runs;
      this.sampleSets = sampleSets;
      this.error = null;
    } catch (e) {
      this.error = (e as Error).message;
    } finally {
      this.loading = false;
    }
  }

  /** Resolves false when the service refused (the message goes to actionError). */
  async rename(runId: string, name: string): Promise<boolean> {
    return this.#act(async () => {
      const run = await this.#api.renameRun({ runId, name });
      this.runs = this.runs.map((r) => (r.id === runId ? { ...r, name: run.name } : r));
    });
  }

  async deleteRun(runId: string): Promise<boolean> {
    return this.#act(async () => {
      await this.#api.deleteRun(runId);
      this.runs = this.runs.filter((r) => r.id !== runId);
      this.#previews.delete(runId);
      await this.refresh();
    });
  }

  async #act(action: () => Promise<void>): Promise<boolean> {
    try {
      await action();
      this.actionError = null;
      return true;
    } catch (e) {
      this.actionError = (e as Error).message;
      return false;
    }
  }

  /** Create the run from the form and open it. */
  async create(): Promise<void> {
    const run = await this.form.submit();
    if (!run) return;
    await this.refresh();
    window.location.hash = runHref(run.id);
  }

  #route(): void {
    if (!/^#\/?runs(\/|$)/.test(window.location.hash) && window.location.hash !== '' && window.location.hash !== '#')
      return; // another page: keep the runs view as it was
    const view = viewFromHash();
    this.view = view;
    if (view.view === 'list') void this.refresh(); // runs made or changed elsewhere (a fork, the CLI) show up
    const runId = view.view === 'run' ? view.runId : null;
    if (this.detail?.runId === runId) return;
    this.detail?.dispose();
    this.detail = runId ? new RunDetailState(this.#api, runId, this.#previews.get(runId) ?? null) : null;
    void this.detail?.load();
  }

  #onEvent(event: StudioEvent): void {
    switch (event.type) {
      case 'train-preview':
        this.#previews.set(event.runId, event);
        return;
      case 'train-progress': {
        const { runId, step, loss } = event.progress;
        if (this.runs.some((r) => r.id === runId)) {
          this.runs = this.runs.map((r) =>
            r.id === runId
              ? { ...r, lastStep: step, lastLoss: loss, status: r.status === 'paused' ? 'paused' : 'running' }
              : r,
          );
        }
        return;
      }
      case 'train-state':
      case 'train-checkpoint':
        this.#queueRefresh();
        return;
    }
  }

  #queueRefresh(): void {
    if (this.#refreshQueued) return;
    this.#refreshQueued = true;
    setTimeout(() => {
      this.#refreshQueued = false;
      void this.refresh();
    }, 150);
  }
}
