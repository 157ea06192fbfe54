'use strict';
// Finds the sls-secrets binary: SLS_SECRETS_BINARY, else the platform package
// (@sls-secrets/cli-<os>-<cpu>[-<libc>]) that npm installed as an optional dependency.
// Shared by the launcher (bin/sls-secrets.js) and the Serverless plugin (lib/plugin.js).

const fs = require('fs');
const path = require('path');

const SUPPORTED = [
  'linux-x64-gnu',
  'linux-arm64-gnu',
  'linux-x64-musl',
  'linux-arm64-musl',
  'darwin-x64',
  'darwin-arm64',
];

class BinaryError extends Error {}

// glibc or musl: Node's own report says which C library it runs on (as npm's `libc` field does).
function linuxLibc() {
  try {
    const header = process.report.getReport().header;
    return header.glibcVersionRuntime ? 'gnu' : 'musl';
  } catch {
    return 'gnu';
  }
}

function platformSuffix(platform = process.platform, arch = process.arch) {
  if (platform === 'win32') {
    throw new BinaryError(
      'sls-secrets: Windows is not offered yet (signals and file modes are not tested there).\n' +
        'hint: use WSL, or build it yourself with `cargo install` and set SLS_SECRETS_BINARY'
    );
  }
  const suffix = platform === 'linux' ? `linux-${arch}-${linuxLibc()}` : `${platform}-${arch}`;
  if (!SUPPORTED.includes(suffix)) {
    throw new BinaryError(
      `sls-secrets: no prebuilt binary for ${suffix} (offered: ${SUPPORTED.join(', ')}).\n` +
        'hint: build it with `cargo install` and set SLS_SECRETS_BINARY to its absolute path'
    );
  }
  return suffix;
}

function packageName(suffix) {
  return `@sls-secrets/cli-${suffix}`;
}

// The binary's path, or a BinaryError that says what was expected and why it may be missing.
function findBinary(env = process.env) {
  const override = env.SLS_SECRETS_BINARY;
  if (override) {
    // Absolute only: a bare name would be checked here in the current folder but run from
    // PATH (spawn's lookup), and a relative one depends on the folder the framework runs in.
    if (!path.isAbsolute(override)) {
      throw new BinaryError(
        `sls-secrets: SLS_SECRETS_BINARY=${override} is not an absolute path.\n` +
          'hint: set it to the absolute path of an sls-secrets binary, e.g. ' +
          'SLS_SECRETS_BINARY="$HOME/.cargo/bin/sls-secrets" (where `cargo install` puts it), or unset it'
      );
    }
    if (!fs.existsSync(override)) {
      throw new BinaryError(`sls-secrets: SLS_SECRETS_BINARY=${override}: no such file`);
    }
    return override;
  }
  const pkg = packageName(platformSuffix());
  let manifest;
  try {
    manifest = require.resolve(`${pkg}/package.json`);
  } catch {
    throw new BinaryError(
      `sls-secrets: the binary package ${pkg} is not installed.\n` +
        'npm installs it as an optional dependency of sls-secrets; it is missing when:\n' +
        '  - optional dependencies were left out (`npm install --omit=optional`, `--no-optional`,\n' +
        '    or `omit=optional` in .npmrc / NPM_CONFIG_OMIT),\n' +
        '  - the lockfile was made on another platform and npm skipped this one,\n' +
        '  - node_modules was copied from another machine.\n' +
        `hint: run \`npm install ${pkg}@${require('../package.json').version} --save-optional\` or reinstall without --omit=optional;\n` +
        'hint: or set SLS_SECRETS_BINARY to the absolute path of an sls-secrets binary'
    );
  }
  const bin = path.join(path.dirname(manifest), 'bin', 'sls-secrets');
  if (!fs.existsSync(bin)) {
    throw new BinaryError(`sls-secrets: ${pkg} is installed but has no bin/sls-secrets (${bin})`);
  }
  return bin;
}

module.exports = { findBinary, platformSuffix, packageName, BinaryError, SUPPORTED };
