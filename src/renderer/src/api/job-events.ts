/**
 * Routes events to the job that owns them. A job's first events can arrive before the call that started it has
 * returned its id (events and replies travel on different channels), so while a start call is in flight, events of
 * unknown jobs are held and replayed to the watcher that claims them. Nothing is held otherwise, so jobs started
 * elsewhere (another window) cost no memory here.
 */
import type { JobEvent, JobHandle, StudioApi, StudioEvent } from '../../../api/contract.ts';

/** Every event that belongs to a job: sampling jobs (JobEvent) and comparisons. */
export type JobScopedEvent = Extract<StudioEvent, { jobId: string }>;
type Listener = (event: JobScopedEvent) => void;

export class JobEvents {
  readonly #watchers = new Map<string, Listener>();
  readonly #unclaimed = new Map<string, JobScopedEvent[]>();
  #starting = 0;

  constructor(api: StudioApi) {
    api.onEvent((event) => {
      if ('jobId' in event) this.#route(event);
    });
  }

  /** Start a job and receive every one of its events, including those that beat the reply. */
  async start<E extends JobScopedEvent = JobEvent>(
    begin: () => Promise<JobHandle>,
    listener: (event: E) => void,
  ): Promise<{ jobId: string; stop: () => void }> {
    this.#starting++;
    try {
      const { jobId } = await begin();
      // A job's events are all of its own kind (E), whichever call started it.
      const route = listener as Listener;
      this.#watchers.set(jobId, route);
      const early = this.#unclaimed.get(jobId);
      this.#unclaimed.delete(jobId);
      early?.forEach(route);
      return { jobId, stop: () => this.#watchers.delete(jobId) };
    } finally {
      if (--this.#starting === 0) this.#unclaimed.clear();
    }
  }

  #route(event: JobScopedEvent): void {
    const listener = this.#watchers.get(event.jobId);
    if (listener) return listener(event);
    if (this.#starting === 0) return;
    let held = this.#unclaimed.get(event.jobId);
    if (!held) this.#unclaimed.set(event.jobId, (held = []));
    held.push(event);
  }
}
