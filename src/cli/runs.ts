/**
 * `diffusion-studio runs`: the runs in the studio database as a table, or one run with its checkpoints and a loss
 * summary. Read-only: it never changes the database (a run whose CLI process died shows as interrupted here,
 * from its lock file, without rewriting its row).
 */
import { parseArgs } from 'node:util';
import { openStore, StoreOpenError } from '../store/open.ts';
import type { Store } from '../store/store.ts';
import type { Checkpoint, Run } from '../store/types.ts';
import { UsageError } from './errors.ts';
import { formatBytes, formatLoss } from './progress-line.ts';
import { effectiveStatus, openStudioStore, requireRun, runFolder, studioPaths, toUsage } from './studio-paths.ts';

export const RUNS_HELP = `Usage: diffusion-studio runs [--run ID] [--json] [--db FILE]

Without --run: every run (id, name, status, dataset, preset, engine, step/steps, last loss, checkpoints, created).
With --run: that run, its checkpoints (step, pinned, size, file) and a summary of its loss curve.

  --run ID      show one run
  --json        machine-readable output
  --db FILE     studio database                          [$DIFFUSION_STUDIO_HOME/studio.db]
`;

interface RunLine {
  id: string;
  name: string;
  kind: Run['kind'];
  status: Run['status'];
  dataset: string | null;
  preset: string | null;
  engine: string | null;
  step: number;
  steps: number | null;
  lastLoss: number | null;
  checkpoints: number;
  createdAt: string;
}

function describeRun(store: Store, run: Run, runsDir: string): { line: RunLine; checkpoints: Checkpoint[] } {
  const checkpoints = store.listCheckpoints(run.id);
  const steps = typeof run.config.steps === 'number' ? run.config.steps : null;
  return {
    checkpoints,
    line: {
      id: run.id,
      name: run.name,
      kind: run.kind,
      status: effectiveStatus(run, runFolder(run.id, checkpoints, runsDir)),
      dataset: run.dataset,
      preset: run.preset,
      engine: run.engine,
      step: run.lastStep,
      steps,
      lastLoss: run.lastLoss,
      checkpoints: checkpoints.length,
      createdAt: new Date(run.createdAt).toISOString(),
    },
  };
}

/** Columns padded to their widest cell. */
function table(header: string[], rows: string[][]): string {
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i].length)));
  const fmt = (r: string[]) =>
    r
      .map((c, i) => c.padEnd(widths[i]))
      .join('  ')
      .trimEnd();
  return [fmt(header), ...rows.map(fmt)].join('\n') + '\n';
}

/** YYYY-MM-DD HH:MM in local time. */
function localTime(ms: number): string {
  const d = new Date(ms);
  const p = (n: number) => String(n).padStart(2, '0');
  return `${d.getFullYear()}-${p(d.getMonth() + 1)}-${p(d.getDate())} ${p(d.getHours())}:${p(d.getMinutes())}`;
}

function lossSummary(store: Store, runId: string) {
  const points = store.metrics(runId, 'loss').filter((p) => Number.isFinite(p.value));
  if (points.length === 0) return null;
  let min = points[0];
  for (const p of points) if (p.value < min.value) min = p;
  const tail = points.slice(-Math.max(1, Math.min(100, Math.ceil(points.length / 10))));
  return {
    points: points.length,
    first: { step: points[0].step, value: points[0].value },
    last: { step: points[points.length - 1].step, value: points[points.length - 1].value },
    min: { step: min.step, value: min.value },
    /** Mean over the last 10% of the logged steps (at most 100). */
    recentMean: tail.reduce((a, p) => a + p.value, 0) / tail.length,
    recentSteps: tail.length,
  };
}

function openForReading(path: string): Store | null {
  try {
    return openStore(path, { readonly: true });
  } catch (e) {
    // A missing database just means nothing was trained yet; an old schema is upgraded by a read-write open.
    if (e instanceof StoreOpenError && e.code === 'missing') return null;
    if (e instanceof StoreOpenError && e.code === 'older-schema') return openStudioStore(path);
    throw toUsage(e);
  }
}

export async function runsCommand(argv: string[], out: NodeJS.WritableStream): Promise<void> {
  const { values: v } = parseArgs({
    args: argv,
    strict: true,
    allowPositionals: false,
    options: {
      run: { type: 'string' },
      json: { type: 'boolean' },
      db: { type: 'string' },
    },
  });
  const paths = studioPaths({ db: v.db });
  const store = openForReading(paths.db);
  if (!store) {
    if (v.run) throw new UsageError(`no run ${v.run}: there is no database at ${paths.db}`);
    out.write(v.json ? '[]\n' : `no runs yet (no database at ${paths.db})\n`);
    return;
  }
  try {
    if (v.run) {
      const run = requireRun(store, v.run, paths);
      const { line, checkpoints } = describeRun(store, run, paths.runs);
      const loss = lossSummary(store, run.id);
      if (v.json) {
        out.write(`${JSON.stringify({ ...run, status: line.status, steps: line.steps, checkpoints, loss })}\n`);
        return;
      }
      const lines = [
        `run ${run.id} "${run.name}" (${run.kind}), ${line.status}`,
        `  dataset ${run.dataset ?? '-'}, preset ${run.preset ?? '-'}, engine ${run.engine ?? '-'}`,
        `  step ${run.lastStep}${line.steps !== null ? `/${line.steps}` : ''}, last loss ${formatLoss(run.lastLoss)}, created ${localTime(run.createdAt)}`,
      ];
      if (run.error) lines.push(`  error: ${run.error}`);
      if (run.parentRunId) lines.push(`  forked from run ${run.parentRunId} (checkpoint ${run.parentCheckpointId})`);
      if (loss) {
        lines.push(
          `  loss: ${loss.points} points; first ${formatLoss(loss.first.value)} (step ${loss.first.step}), ` +
            `min ${formatLoss(loss.min.value)} (step ${loss.min.step}), last ${formatLoss(loss.last.value)} ` +
            `(step ${loss.last.step}), mean of the last ${loss.recentSteps} ${formatLoss(loss.recentMean)}`,
        );
      }
      out.write(`${lines.join('\n')}\n`);
      if (checkpoints.length === 0) {
        out.write('no checkpoints\n');
        return;
      }
      out.write(
        table(
          ['checkpoint', 'step', 'pinned', 'size', 'loss', 'file'],
          checkpoints.map((c) => [
            c.id,
            String(c.step),
            c.pinned ? 'yes' : '',
            formatBytes(c.bytes),
            formatLoss(typeof c.metrics?.loss === 'number' ? c.metrics.loss : null),
            c.path,
          ]),
        ),
      );
      return;
    }
    const lines = store.listRuns().map((r) => describeRun(store, r, paths.runs).line);
    if (v.json) {
      out.write(`${JSON.stringify(lines)}\n`);
      return;
    }
    if (lines.length === 0) {
      out.write(`no runs in ${paths.db}\n`);
      return;
    }
    out.write(
      table(
        ['id', 'name', 'status', 'dataset', 'preset', 'engine', 'step', 'loss', 'ckpts', 'created'],
        lines.map((l) => [
          l.id,
          l.name,
          l.status,
          l.dataset ?? '-',
          l.preset ?? '-',
          l.engine ?? '-',
          l.steps !== null ? `${l.step}/${l.steps}` : String(l.step),
          formatLoss(l.lastLoss),
          String(l.checkpoints),
          localTime(Date.parse(l.createdAt)),
        ]),
      ),
    );
  } finally {
    store.close();
  }
}
