#!/usr/bin/env node
// `npm start`: runs the API and one worker as child processes against local PostgreSQL/Redis
// (scripts/services.sh has started them; both apply migrations at boot under an advisory lock).
// Ctrl-C / SIGTERM is forwarded; when one child exits the other is stopped.
import { spawn, type ChildProcess } from 'node:child_process';
import { fileURLToPath } from 'node:url';

const here = (p: string) => fileURLToPath(new URL(p, import.meta.url));
const children: ChildProcess[] = [
  spawn(process.execPath, [here('./main.js')], { stdio: 'inherit' }),
  spawn(process.execPath, [here('../../../worker/dist/src/main.js')], { stdio: 'inherit' }),
];
let exiting = false;
const stopAll = (signal: NodeJS.Signals) => {
  for (const c of children) if (c.exitCode === null && c.signalCode === null) c.kill(signal);
};
for (const c of children) {
  c.on('exit', (code, signal) => {
    if (!exiting) {
      exiting = true;
      process.exitCode = code ?? (signal ? 1 : 0);
      stopAll('SIGTERM');
    }
  });
}
for (const s of ['SIGINT', 'SIGTERM'] as const) {
  process.on(s, () => {
    exiting = true;
    stopAll('SIGTERM');
  });
}
