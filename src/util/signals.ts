/**
 * Who handles Ctrl-C / SIGTERM. By default the CLI exits at once (nothing half-written is left:
 * saves are atomic). A long-running service (`graft worker`) installs its own handler to finish
 * or release its work first; a second signal still exits at once.
 */
type Handler = (sig: NodeJS.Signals) => void;

let handler: Handler | undefined;

export function setInterruptHandler(h: Handler | undefined): void {
  handler = h;
}

/** Hand the signal to the installed handler (once); false when there is none or it already ran. */
export function interceptSignal(sig: NodeJS.Signals): boolean {
  const h = handler;
  if (!h) return false;
  handler = undefined;
  h(sig);
  return true;
}
