/**
 * App-wide state: the host's info (samplers, presets, engine), the current page (kept in the URL hash so back /
 * forward and reloads work), and the theme.
 */
import type { AppInfo, StudioApi } from '../../../api/contract.ts';
import { JobEvents } from '../api/job-events.ts';
import { ThemeState } from './theme.svelte.ts';

export const PAGES = [
  { id: 'runs', label: 'Runs' },
  { id: 'lab', label: 'Sampler lab' },
  { id: 'compare', label: 'Compare' },
] as const;

export type PageId = (typeof PAGES)[number]['id'];

function pageFromHash(): PageId {
  const id = window.location.hash.replace(/^#\/?/, '');
  return PAGES.some((p) => p.id === id) ? (id as PageId) : 'runs';
}

export class AppState {
  info = $state.raw<AppInfo | null>(null);
  infoError = $state<string | null>(null);
  page = $state<PageId>(pageFromHash());
  readonly theme = new ThemeState();
  readonly api: StudioApi;
  readonly jobs: JobEvents;

  constructor(api: StudioApi) {
    this.api = api;
    this.jobs = new JobEvents(api);
    window.addEventListener('hashchange', () => (this.page = pageFromHash()));
  }

  async load(): Promise<void> {
    try {
      this.info = await this.api.info();
      this.infoError = null;
    } catch (e) {
      this.infoError = (e as Error).message;
    }
  }
}
