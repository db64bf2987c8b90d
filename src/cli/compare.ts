/**
 * `diffusion-studio compare`: samplers x step counts (optionally x eta or guidance) from the same initial noise, for
 * an analytic mixture (--model, with its true error) or a run's network (--run). Prints a table (rows samplers,
 * columns steps: NFE, ms, error), stores a comparisons row with one .npy per cell, and with --grid writes a labeled
 * PNG carrying its provenance (tEXt chunks and a sidecar JSON).
 */
import { dirname, join } from 'node:path';
import { parseArgs } from 'node:util';
import { analyticSource } from '../compare/analytic-source.ts';
import { comparisonGridPng } from '../compare/comparison-grid.ts';
import { runComparison, type CellSource, type ComparisonResult, type ComparisonSpec } from '../compare/comparison.ts';
import { comparisonProvenance, writePngWithProvenance, type RunProvenance } from '../compare/provenance.ts';
import { runSource } from '../compare/run-source.ts';
import { GRID_SCHEDULES } from '../core/noise-grid.ts';
import { SAMPLER_NAMES } from '../core/samplers/index.ts';
import { UsageError } from './errors.ts';
import { choiceFlag, intFlag } from './options.ts';
import { openRunEngine, type RunEngine } from './run-engine.ts';
import { loadMixture } from './sample.ts';
import { runChecked } from './sampler-flags.ts';
import { openStudioStore, studioPaths } from './studio-paths.ts';

export const COMPARE_HELP = `Usage: diffusion-studio compare (--model gmm:FILE | --run ID) --samplers A,B --steps N1,N2 [options]

  --model gmm:FILE        an analytic Gaussian mixture (as for sample --model); cells get a true error
  --formulation vp|sigma  --schedule S  --timesteps T   the mixture's model and grid (as for sample)  [vp, linear]
  --run ID                a trained or imported run (as for sample --run)
  --checkpoint C  --ema  --engine tfjs|onnx  --backend B   which network, on what (as for sample --run)
  --samplers LIST         comma-separated: ${SAMPLER_NAMES.join(', ')}
  --steps LIST            comma-separated step counts, e.g. 5,10,20
  --eta LIST              third axis: eta values (samplers with an eta option only)
  --guidance LIST         third axis: classifier-free guidance scales (conditional runs)
  --n N                   samples per cell                                                      [256 / 16 images]
  --seed S                seed of the initial noise, the same z for every cell                  [0]
  --batch-size B          runs: samples per model call                                          [min(n, 64)]
  --grid FILE.png         a labeled grid (images: the first 16 samples per cell; 2-D: a scatter), with
                          provenance in PNG tEXt chunks and FILE.png.json
  --out DIR               where the cell arrays go (DIR/<comparison id>/*.npy)    [<database folder>/comparisons]
  --name TEXT             the comparison's name
  --db FILE               studio database                          [$DIFFUSION_STUDIO_HOME/studio.db]
  --json                  print the result as JSON

Error (analytic models): deterministic samplers, the mean distance to the probability-flow ODE solved from the same
z by Heun at 1000 steps; stochastic ones (marked *), the sliced Wasserstein-2 distance to exact mixture samples.
`;

function listFlag(
  name: string,
  raw: string | undefined,
  parse: (s: string) => number | undefined,
): number[] | undefined {
  if (raw === undefined) return undefined;
  const parts = raw.split(',').map((s) => s.trim());
  if (parts.some((s) => s === '')) throw new UsageError(`--${name} must be a comma-separated list (got "${raw}")`);
  return parts.map((s) => parse(s)!);
}

/** The result as text: one block per row label, one column per step count. */
export function comparisonTable(r: ComparisonResult): string {
  const head = ['sampler', ...r.steps.map((s) => `${s} steps`)];
  const body = r.rows.map((row) => [
    row,
    ...r.steps.map((s) => {
      const c = r.cells.find((x) => x.row === row && x.steps === s)!;
      const err = c.error === null ? '' : `  ${c.error.toPrecision(3)}${c.errorKind === 'swd' ? '*' : ''}`;
      return `${c.nfe} nfe  ${c.ms.toFixed(0)} ms${err}`;
    }),
  ]);
  const widths = head.map((_, i) => Math.max(...[head, ...body].map((line) => line[i].length)));
  const fmt = (line: string[]) =>
    line
      .map((v, i) => v.padEnd(widths[i]))
      .join('   ')
      .trimEnd();
  const lines = [fmt(head), ...body.map(fmt)];
  if (r.reference) {
    lines.push(
      `error: mean distance to the ODE solution (${r.reference.sampler}, ${r.reference.steps} steps) from the same z; ` +
        `* sliced Wasserstein-2 to exact samples (floor at n = ${r.n}: ${r.reference.swd.toPrecision(3)})`,
    );
  }
  return `${lines.join('\n')}\n`;
}

export async function compareCommand(argv: string[], out: NodeJS.WritableStream): Promise<void> {
  const { values: v } = parseArgs({
    args: argv,
    strict: true,
    allowPositionals: false,
    options: {
      model: { type: 'string' },
      formulation: { type: 'string' },
      schedule: { type: 'string' },
      timesteps: { type: 'string' },
      run: { type: 'string' },
      checkpoint: { type: 'string' },
      ema: { type: 'boolean' },
      engine: { type: 'string' },
      backend: { type: 'string' },
      samplers: { type: 'string' },
      steps: { type: 'string' },
      eta: { type: 'string' },
      guidance: { type: 'string' },
      n: { type: 'string' },
      seed: { type: 'string' },
      'batch-size': { type: 'string' },
      grid: { type: 'string' },
      out: { type: 'string' },
      name: { type: 'string' },
      db: { type: 'string' },
      json: { type: 'boolean' },
    },
  });
  if (!v.model === !v.run) throw new UsageError('give one of --model gmm:FILE or --run ID');
  if (!v.samplers) throw new UsageError('--samplers is required (e.g. --samplers euler,heun,dpmpp-2m)');
  if (!v.steps) throw new UsageError('--steps is required (e.g. --steps 5,10,20)');
  const samplers = v.samplers.split(',').map((s) => choiceFlag('samplers', s.trim(), SAMPLER_NAMES)!);
  const steps = listFlag('steps', v.steps, (s) => intFlag('steps', s, 1, 100_000))!;
  const num = (name: string) => (s: string) => {
    const x = Number(s);
    if (!Number.isFinite(x)) throw new UsageError(`--${name} must be a list of numbers (got "${s}")`);
    return x;
  };
  const eta = listFlag('eta', v.eta, num('eta'));
  const guidance = listFlag('guidance', v.guidance, num('guidance'));
  if (eta && guidance) throw new UsageError('--eta and --guidance are both a third axis: give one');
  if (v.grid !== undefined && !v.grid.toLowerCase().endsWith('.png'))
    throw new UsageError('--grid must name a .png file');
  if (v.model && (v.checkpoint !== undefined || v.ema || v.engine || v.backend || v['batch-size'])) {
    throw new UsageError('--checkpoint, --ema, --engine, --backend and --batch-size apply to --run only');
  }
  if (v.run && (v.formulation || v.schedule || v.timesteps)) {
    throw new UsageError('--formulation, --schedule and --timesteps apply to --model only (a run has its own)');
  }
  const seed = intFlag('seed', v.seed, 0) ?? 0;
  const nFlag = intFlag('n', v.n, 1, 100_000);

  const paths = studioPaths({ db: v.db });
  const store = openStudioStore(paths.db);
  let engine: RunEngine | null = null;
  try {
    let source: CellSource;
    let n: number;
    let runInfo: RunProvenance | null = null;
    if (v.model) {
      const formulation = choiceFlag('formulation', v.formulation, ['vp', 'sigma'] as const) ?? 'vp';
      const schedule =
        choiceFlag('schedule', v.schedule, GRID_SCHEDULES) ?? (formulation === 'vp' ? 'linear' : 'karras');
      const timesteps = intFlag('timesteps', v.timesteps, 2, 100_000);
      const mixture = await loadMixture(v.model);
      source = analyticSource(mixture, { formulation, schedule, ...(timesteps ? { timesteps } : {}) }, v.model);
      n = nFlag ?? 256;
    } else {
      const backend = choiceFlag('backend', v.backend, ['auto', 'tensorflow', 'webgpu', 'wasm', 'cpu'] as const);
      const engineName = choiceFlag('engine', v.engine, ['tfjs', 'onnx'] as const);
      engine = await openRunEngine(
        store,
        paths,
        {
          run: v.run!,
          checkpoint: v.checkpoint,
          ema: v.ema,
          ...(engineName ? { engine: engineName } : {}),
          ...(backend ? { backend } : {}),
        },
        (line) => out.write(`${line}\n`),
      );
      const image = engine.shape.length === 3;
      n = nFlag ?? (image ? 16 : 256);
      if (guidance && engine.numClasses === 0)
        throw new UsageError('--guidance needs a conditional run (trained with --cond)');
      const ckpt = engine.checkpoint;
      runInfo = {
        run: engine.run.id,
        checkpoint: ckpt?.id ?? null,
        checkpointSha256: ckpt?.sha256 ?? null,
        step: ckpt?.step ?? null,
        ema: Boolean(v.ema),
      };
      source = runSource(engine, {
        chunk: Math.min(intFlag('batch-size', v['batch-size'], 1) ?? 64, n),
        describe: { kind: 'run', ...runInfo, engine: engine.engineName },
      });
    }
    if (v.grid !== undefined && !(source.shape.length === 3 || (source.shape.length === 1 && source.shape[0] === 2))) {
      throw new UsageError(`--grid draws images or 2-D points; these samples have ${source.shape.join('x')} values`);
    }
    const spec: ComparisonSpec = {
      ...(v.name ? { name: v.name } : {}),
      samplers,
      steps,
      ...(eta ? { eta } : {}),
      ...(guidance ? { guidance } : {}),
      n,
      seed,
    };
    const folder = v.out ?? join(dirname(paths.db), 'comparisons');
    let result: ComparisonResult;
    try {
      result = await runChecked(() => runComparison(spec, source, { store, folder }));
    } catch (e) {
      // Spec problems (a sampler without eta, too many steps) are the user's: one line, exit 2.
      if (e instanceof RangeError) throw new UsageError(e.message);
      throw e;
    }
    let sidecar: string | undefined;
    if (v.grid) {
      const png = await comparisonGridPng(result, {
        title: v.name ?? `${v.model ?? `run ${v.run}`}, n = ${n}, seed ${seed}`,
      });
      sidecar = await writePngWithProvenance(v.grid, png, comparisonProvenance(result, runInfo));
    }
    if (v.json) {
      const { samples: _samples, ...rest } = result;
      out.write(`${JSON.stringify({ ...rest, ...(v.grid ? { grid: v.grid, sidecar } : {}) })}\n`);
      return;
    }
    out.write(
      `comparison ${result.id}: ${result.cells.length} cells, ${n} samples each, seed ${seed} -> ${result.folder}\n`,
    );
    out.write(comparisonTable(result));
    if (v.grid) out.write(`grid -> ${v.grid} (provenance in ${sidecar})\n`);
  } finally {
    await engine?.release();
    store.close();
  }
}
