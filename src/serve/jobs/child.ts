/**
 * A training job's process (started by manager.ts): runs one graft command exactly as the CLI
 * would (its own option table, its recipe), with a Reporter and a process-wide Trainer callback
 * that send structured events to the server over IPC: log lines, progress, epoch metrics. The
 * command's one JSON result goes to stdout. SIGTERM (cancel) removes half-written output first.
 * Training is synchronous wasm work between promise ticks, so the callbacks also hand the event
 * loop a turn (at every epoch end, and every ~100 ms of batches): without it neither SIGTERM nor
 * the IPC events would be handled until the whole recipe had finished.
 */
import { parseArgs } from 'node:util';
import { COMMANDS } from '../../cli/commands/index.js';
import { optionsOf } from '../../cli/spec.js';
import type { Values } from '../../cli/args.js';
import { processCallbacks } from '../../train/trainer.js';
import { cleanupPendingDirs } from '../../util/fs.js';
import type { Reporter } from '../../util/log.js';

export type ChildEvent =
  | { type: 'log'; level: 'info' | 'warn'; message: string }
  | { type: 'progress'; label: string; done: number; total: number }
  | { type: 'epoch'; epoch: number; loss: number; accuracy: number; val_loss?: number; val_accuracy?: number; lr: number; seconds: number }
  | { type: 'resumed'; epochs: number };

const send = (e: ChildEvent): void => void process.send?.(e);

let lastTurn = performance.now();
/** Let the event loop run (signals, IPC writes): one setImmediate, at most every `ms`. */
function turn(ms: number): Promise<void> | void {
  if (performance.now() - lastTurn < ms) return;
  return new Promise((resolve) => setImmediate(() => {
    lastTurn = performance.now();
    resolve();
  }));
}

const reporter: Reporter = {
  info: (message) => send({ type: 'log', level: 'info', message }),
  warn: (message) => send({ type: 'log', level: 'warn', message }),
  progress(label, total) {
    let done = 0;
    let last = 0;
    return {
      tick(n = 1) {
        done += n;
        const now = Date.now();
        if (now - last >= 200 || done >= total) {
          last = now;
          send({ type: 'progress', label, done, total });
        }
      },
      done: () => send({ type: 'progress', label, done: total, total }),
    };
  },
};

async function run(argv: string[]): Promise<void> {
  const [name, ...rest] = argv;
  const cmd = COMMANDS.find((c) => c.name === name);
  if (!cmd) throw new Error(`unknown command ${name}`);
  const table = optionsOf(cmd);
  const options = Object.fromEntries(Object.entries(table).map(([n, o]) => [n, { type: o.type }]));
  const { values, positionals } = parseArgs({ args: rest, options, allowPositionals: true, strict: true });
  processCallbacks.push({
    onEpochEnd: ({ epoch, loss, accuracy, val_loss, val_accuracy, lr, seconds }) => {
      send({ type: 'epoch', epoch, loss, accuracy, val_loss, val_accuracy, lr, seconds });
      return turn(0);
    },
    onBatchEnd: () => turn(100),
    onResume: (epochs) => send({ type: 'resumed', epochs }),
  });
  await cmd.run(positionals, values as Values, reporter);
}

process.on('SIGTERM', () => {
  cleanupPendingDirs();
  process.exit(143);
});
run(JSON.parse(process.argv[2] ?? '[]') as string[]).then(
  () => process.stdout.write('', () => process.exit(0)),
  (e) => {
    process.stderr.write(`${(e as Error).message}\n`);
    process.exit(1);
  },
);
