/**
 * `npm run serve`: the studio as a local web server. Binds 127.0.0.1 by default; --host 0.0.0.0 exposes it to the
 * network (e.g. a remote GPU box), which the user must ask for explicitly.
 */
import { existsSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { parseArgs } from 'node:util';
import pkg from '../../package.json' with { type: 'json' };
import { StudioService } from '../service/studio-service.ts';
import { dataPaths } from '../service/data-dir.ts';
import { createStudioHttpServer } from './http-server.ts';
import { isLoopbackHost } from './request-guard.ts';
import {
  compareWorkerEntry,
  defaultStaticDir,
  modelSampleWorkerEntry,
  sampleWorkerEntry,
  trainWorkerEntry,
} from './worker-entries.ts';

const HELP = `Usage: npm run serve -- [options]     (or: node out/server/cli.js [options])

  --host ADDR        address to bind                                   [127.0.0.1]
  --port N           port; 0 picks a free one                          [6173]
  --data-dir DIR     studio data (database, samples)   [$DIFFUSION_STUDIO_HOME or ~/.diffusion-studio]
  --static DIR       built renderer to serve                           [out/web]
  -h, --help         show this help
`;

function fail(message: string): never {
  process.stderr.write(`diffusion-studio serve: ${message}\n`);
  process.exit(1);
}

async function main(): Promise<void> {
  let values;
  try {
    ({ values } = parseArgs({
      options: {
        host: { type: 'string', default: '127.0.0.1' },
        port: { type: 'string', default: '6173' },
        'data-dir': { type: 'string' },
        static: { type: 'string' },
        help: { type: 'boolean', short: 'h' },
      },
      strict: true,
    }));
  } catch (e) {
    fail(`${(e as Error).message}\n\n${HELP}`);
  }
  if (values.help) {
    process.stdout.write(HELP);
    return;
  }
  const port = Number(values.port);
  if (!Number.isInteger(port) || port < 0 || port > 65535)
    fail(`--port must be an integer in 0..65535 (got "${values.port}")`);
  const host = values.host;
  const staticDir = resolve(values.static ?? defaultStaticDir());
  if (!existsSync(join(staticDir, 'index.html'))) {
    fail(`no built renderer in ${staticDir}; run "npm run build" first (npm run serve does it for you)`);
  }

  let service: StudioService;
  try {
    service = new StudioService({
      host: 'server',
      version: pkg.version,
      dataDir: values['data-dir'],
      workers: {
        sample: sampleWorkerEntry(),
        train: trainWorkerEntry(),
        compare: compareWorkerEntry(),
        modelSample: modelSampleWorkerEntry(),
      },
    });
  } catch (e) {
    fail(`cannot open the studio data: ${(e as Error).message}`);
  }
  const web = createStudioHttpServer({
    service,
    staticDir,
    loopbackOnly: isLoopbackHost(host),
    exportsDir: dataPaths(service.dataDir).exports,
  });

  web.server.on('error', (e: NodeJS.ErrnoException) => {
    if (e.code === 'EADDRINUSE')
      fail(`port ${port} on ${host} is already in use; pass --port <n> (or --port 0 for any free port)`);
    if (e.code === 'EADDRNOTAVAIL') fail(`cannot bind ${host}: no such local address`);
    if (e.code === 'EACCES') fail(`not allowed to bind ${host}:${port}; pick a port above 1023`);
    fail(e.message);
  });
  web.server.listen(port, host, () => {
    const address = web.server.address();
    const actualPort = typeof address === 'object' && address ? address.port : port;
    const shownHost = host.includes(':') ? `[${host}]` : host;
    process.stdout.write(`Diffusion Studio ${pkg.version} is serving at http://${shownHost}:${actualPort}/\n`);
    process.stdout.write(`  data: ${service.dataDir}\n`);
    if (!isLoopbackHost(host)) {
      process.stdout.write('  warning: reachable from the network, with no authentication\n');
    }
  });

  let stopping = false;
  const stop = async () => {
    if (stopping) return;
    stopping = true;
    await web.close();
    await service.close();
    process.exit(0);
  };
  process.on('SIGINT', () => void stop());
  process.on('SIGTERM', () => void stop());
}

await main();
