/**
 * Sandboxed preload: exposes exactly one object, window.studio (a StudioTransport), and nothing of Node or
 * ipcRenderer itself. Main validates every call again; this side only refuses names outside the contract early.
 */
import { contextBridge, ipcRenderer, type IpcRendererEvent } from 'electron';
import { IPC, isCallName, type StudioEvent, type StudioTransport } from '../api/contract.ts';

const transport: StudioTransport = {
  call(name, arg) {
    if (!isCallName(name)) {
      return Promise.resolve({
        ok: false,
        error: { name: 'NotFoundError', message: `unknown API method "${String(name)}"` },
      });
    }
    return ipcRenderer.invoke(IPC.call(name), arg);
  },
  onEvent(listener) {
    const handler = (_event: IpcRendererEvent, event: StudioEvent) => listener(event);
    ipcRenderer.on(IPC.event, handler);
    return () => {
      ipcRenderer.removeListener(IPC.event, handler);
    };
  },
};

contextBridge.exposeInMainWorld('studio', transport);
