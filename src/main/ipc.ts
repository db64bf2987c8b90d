/**
 * IPC for the contract, generated from CALL_NAMES: one ipcMain.handle per call, each refusing any sender that is
 * not the top frame of a studio window showing our own renderer. Events go to every studio window.
 */
import { ipcMain, type BrowserWindow, type WebFrameMain } from 'electron';
import { CALL_NAMES, IPC, type CallResult, type StudioCalls, type StudioEvent } from '../api/contract.ts';
import { dispatchCall } from '../service/dispatch.ts';

export interface IpcOptions {
  service: StudioCalls & { onEvent(listener: (event: StudioEvent) => void): () => void };
  windows: () => BrowserWindow[];
  /** Whether a URL is the studio's renderer (the built file, or the dev server in development). */
  isRendererUrl: (url: string) => boolean;
}

const FORBIDDEN: CallResult<never> = {
  ok: false,
  error: { name: 'Forbidden', message: 'IPC from an untrusted frame was refused' },
};

export function registerIpc({ service, windows, isRendererUrl }: IpcOptions): () => void {
  const trusted = (frame: WebFrameMain | null): boolean =>
    !!frame && windows().some((w) => w.webContents.mainFrame === frame) && isRendererUrl(frame.url);

  for (const name of CALL_NAMES) {
    ipcMain.handle(IPC.call(name), async (event, arg: unknown) =>
      trusted(event.senderFrame) ? dispatchCall(service, name, arg) : FORBIDDEN,
    );
  }
  // Typed arrays in events travel by structured clone; nothing is serialized to JSON on this path.
  const unsubscribe = service.onEvent((event) => {
    for (const w of windows()) if (!w.isDestroyed()) w.webContents.send(IPC.event, event);
  });

  return () => {
    unsubscribe();
    for (const name of CALL_NAMES) ipcMain.removeHandler(IPC.call(name));
  };
}
