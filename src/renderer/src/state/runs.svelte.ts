/** The Runs page: runs and recorded sample sets, as the store lists them. */
import type { RunSummary, SampleSet, StudioApi } from '../../../api/contract.ts';

export class RunsState {
  runs = $state.raw<RunSummary[]>([]);
  sampleSets = $state.raw<SampleSet[]>([]);
  loading = $state(false);
  error = $state<string | null>(null);

  readonly #api: StudioApi;

  constructor(api: StudioApi) {
    this.#api = api;
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
}
