/**
 * The sampler lab's stored trajectories (every finished job keeps one; they reopen after a restart) and the
 * exports of the current one: a strip PNG or an APNG / GIF animation, written by the service into its exports
 * folder, which the web host serves at /exports/<name> (the desktop app shows the file's path).
 */
import type { ExportedFile, StudioApi, TrajectorySummary } from '../../../api/contract.ts';

export type ExportKind = 'strip' | 'apng' | 'gif';

export class LabLibrary {
  readonly #api: StudioApi;

  trajectories = $state.raw<TrajectorySummary[]>([]);
  listError = $state<string | null>(null);
  exporting = $state<ExportKind | null>(null);
  /** Exports of this session, newest first. */
  exports = $state.raw<ExportedFile[]>([]);
  exportError = $state<string | null>(null);

  constructor(api: StudioApi) {
    this.#api = api;
  }

  async refresh(): Promise<void> {
    try {
      this.trajectories = await this.#api.listTrajectories();
      this.listError = null;
    } catch (e) {
      this.listError = (e as Error).message;
    }
  }

  async export(trajectoryId: string, kind: ExportKind): Promise<ExportedFile | null> {
    if (this.exporting) return null;
    this.exporting = kind;
    this.exportError = null;
    try {
      const file = await this.#api.exportTrajectory(
        kind === 'strip' ? { trajectoryId, kind: 'strip' } : { trajectoryId, kind: 'animation', format: kind },
      );
      this.exports = [file, ...this.exports];
      return file;
    } catch (e) {
      this.exportError = (e as Error).message;
      return null;
    } finally {
      this.exporting = null;
    }
  }
}
