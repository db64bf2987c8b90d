/// <reference types="svelte" />
/// <reference types="vite/client" />
import type { StudioTransport } from '../../api/contract.ts';

declare global {
  interface Window {
    /** Set by the Electron preload; absent in a browser. */
    studio?: StudioTransport;
  }
}
