/**
 * Renderer build settings shared by the Electron build (electron.vite.config.ts) and the web build
 * (vite.web.config.ts), so both hosts serve the same app under the same Content-Security-Policy.
 */
import { svelte } from '@sveltejs/vite-plugin-svelte';
import type { Plugin, PluginOption } from 'vite';
import { CONTENT_SECURITY_POLICY } from './src/api/csp.ts';

/** Puts the one CSP into index.html. The dev server needs inline styles (HMR) and its own WebSocket; builds do not. */
function contentSecurityPolicy(): Plugin {
  let dev = false;
  return {
    name: 'studio:csp',
    configResolved(config) {
      dev = config.command === 'serve';
    },
    transformIndexHtml() {
      const policy = dev
        ? CONTENT_SECURITY_POLICY.replace("style-src 'self'", "style-src 'self' 'unsafe-inline'").replace(
            "connect-src 'self'",
            "connect-src 'self' ws://localhost:* http://localhost:*",
          )
        : CONTENT_SECURITY_POLICY;
      return [
        { tag: 'meta', attrs: { 'http-equiv': 'Content-Security-Policy', content: policy }, injectTo: 'head-prepend' },
      ];
    },
  };
}

export function rendererPlugins(): PluginOption[] {
  return [svelte(), contentSecurityPolicy()];
}
