/**
 * The web host's build (`npm run build:web`, used by `npm run serve` and the e2e tests), two environments in one
 * `vite build`:
 * - client: the Svelte renderer into out/web (what the server serves; the Electron build keeps out/renderer);
 * - ssr (the server): src/server/cli.ts plus each worker as a sibling entry into out/server, so production serving
 *   needs no TypeScript loader. Dependencies (ws, better-sqlite3) stay external and load from node_modules.
 */
import { resolve } from 'node:path';
import { defineConfig } from 'vite';
import { rendererPlugins } from './vite.shared.ts';

const here = import.meta.dirname;

export default defineConfig({
  root: resolve(here, 'src/renderer'),
  base: './',
  publicDir: resolve(here, 'src/renderer/public'),
  plugins: rendererPlugins(),
  logLevel: 'warn',
  builder: {},
  environments: {
    client: {
      build: {
        outDir: resolve(here, 'out/web'),
        emptyOutDir: true,
        sourcemap: true,
      },
    },
    ssr: {
      consumer: 'server',
      build: {
        ssr: true,
        target: 'node20',
        outDir: resolve(here, 'out/server'),
        emptyOutDir: true,
        minify: false,
        sourcemap: true,
        copyPublicDir: false,
        rolldownOptions: {
          input: {
            cli: resolve(here, 'src/server/cli.ts'),
            'sample.worker': resolve(here, 'src/worker/sample.worker.ts'),
            'train.worker': resolve(here, 'src/worker/train.worker.ts'),
            'model-sample.worker': resolve(here, 'src/worker/model-sample.worker.ts'),
            'compare.worker': resolve(here, 'src/worker/compare.worker.ts'),
          },
          output: {
            format: 'es',
            // Flat layout: worker-entries.ts finds the workers next to the chunk that contains it.
            entryFileNames: '[name].js',
            chunkFileNames: '[name]-[hash].js',
          },
        },
      },
    },
  },
});
