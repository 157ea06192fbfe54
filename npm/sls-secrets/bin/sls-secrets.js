#!/usr/bin/env node
'use strict';
// The `sls-secrets` command from npm: runs the platform's prebuilt binary with the same argv,
// stdio, exit code and signals. No install scripts: npm picks the binary package through
// `os`/`cpu`/`libc` on the optional dependencies (docs/npm.md).

const { spawn } = require('child_process');
const { findBinary, BinaryError } = require('../lib/binary');

let bin;
try {
  bin = findBinary();
} catch (e) {
  if (!(e instanceof BinaryError)) throw e;
  process.stderr.write(`${e.message}\n`);
  process.exit(2);
}

const child = spawn(bin, process.argv.slice(2), { stdio: 'inherit' });

// A terminal's Ctrl-C reaches the whole process group; a `kill PID` reaches only us. Forward
// either way so the binary (which forwards to `exec`'s child in turn) always hears it.
const FORWARDED = ['SIGINT', 'SIGTERM', 'SIGHUP', 'SIGQUIT'];
const forward = (signal) => {
  if (child.exitCode === null && child.signalCode === null) child.kill(signal);
};
for (const s of FORWARDED) process.on(s, forward);

child.on('error', (e) => {
  process.stderr.write(`sls-secrets: could not run ${bin}: ${e.message}\n`);
  process.exit(2);
});

child.on('exit', (code, signal) => {
  if (signal) {
    // Die of the same signal, so our parent sees what the binary's parent would have seen.
    for (const s of FORWARDED) process.removeListener(s, forward);
    process.kill(process.pid, signal);
    // Signals Node handles itself (SIGUSR1 opens its inspector) don't kill it: 128+N then.
    setTimeout(() => process.exit(128 + (require('os').constants.signals[signal] || 0)), 100);
    return;
  }
  process.exit(code === null ? 2 : code);
});
