/**
 * electron-vite builds the desktop app into out/: main (ESM, with sample.worker and train.worker bundled beside it
 * through the `?modulePath` imports in src/main/worker-paths.ts), preload (CommonJS: sandboxed preloads cannot be ES modules) and the
 * Svelte renderer (src/renderer). The web host has its own build, vite.web.config.ts.
 */
import { defineConfig } from 'electron-vite';
import { rendererPlugins } from './vite.shared.ts';

export default defineConfig({
  main: {
    build: { sourcemap: true },
  },
  preload: {
    build: {
      sourcemap: true,
      rollupOptions: { output: { format: 'cjs' } },
    },
  },
  renderer: {
    plugins: rendererPlugins(),
    build: { sourcemap: true },
  },
});
