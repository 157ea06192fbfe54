'use strict';
// The Serverless plugin (`plugins: [sls-secrets]`): before packaging, deploying a function,
// invoking locally or starting serverless-offline, it asks the binary for the stage's secrets
// (`export --format json`, over a pipe) and sets them in the resolved service, in memory:
// the same rules and checks as `sls-secrets render` (docs/npm.md). No file is written; values
// need no `${` escaping because variables are resolved before plugin hooks run. Logs names,
// never values. Local runs (`invoke local`, `offline`) of a stage without a secrets file go on
// with serverless.yml's values and a warning; `package`/`deploy` refuse such a stage.

const { execFileSync } = require('child_process');
const { findBinary, BinaryError } = require('./binary');

// Lambda's pattern and reserved names (src/envname.rs).
const NAME = /^[A-Za-z][A-Za-z0-9_]+$/;
const RESERVED = new Set([
  '_HANDLER', '_X_AMZN_TRACE_ID', 'AWS_REGION', 'AWS_DEFAULT_REGION', 'AWS_EXECUTION_ENV',
  'AWS_LAMBDA_FUNCTION_NAME', 'AWS_LAMBDA_FUNCTION_MEMORY_SIZE', 'AWS_LAMBDA_FUNCTION_VERSION',
  'AWS_LAMBDA_INITIALIZATION_TYPE', 'AWS_LAMBDA_LOG_GROUP_NAME', 'AWS_LAMBDA_LOG_STREAM_NAME',
  'AWS_ACCESS_KEY', 'AWS_ACCESS_KEY_ID', 'AWS_SECRET_ACCESS_KEY', 'AWS_SESSION_TOKEN',
  'AWS_LAMBDA_RUNTIME_API', 'LAMBDA_TASK_ROOT', 'LAMBDA_RUNTIME_DIR',
]);
const LAMBDA_ENV_LIMIT = 4096;
const EXPORT_VERSION = 1;

const isMap = (v) => v !== null && typeof v === 'object' && !Array.isArray(v);

// Bytes Lambda counts for one entry: key plus value (an intrinsic counted as its JSON text).
function entrySize(key, value) {
  if (value === null || value === undefined) return Buffer.byteLength(key);
  const text = typeof value === 'string' ? value : JSON.stringify(value);
  return Buffer.byteLength(key) + Buffer.byteLength(text);
}

class SlsSecretsPlugin {
  constructor(serverless, options, utils) {
    this.serverless = serverless;
    this.options = options || {};
    const log = utils && utils.log;
    this.info = (msg) => (log ? log.notice(msg) : serverless.cli.log(msg));
    const warn = log && log.warning;
    this.warn = (msg) => (warn ? log.warning(msg) : serverless.cli.log(msg));
    this.done = false;
    // [name, value] pairs set by inject(), for invoke local's process.env.
    this.injected = [];
    const deploy = () => this.inject({ local: false });
    const local = () => this.inject({ local: true });
    this.hooks = {
      // `invoke local`: the framework's own invoke-local plugin copies the service's environment
      // into process.env in its `before:invoke:local:loadEnvVars` hook, which runs before ours
      // (core plugins first), so the secrets go into the service earlier, at `initialize`
      // (after variables are resolved, before any command lifecycle event). docs/npm.md.
      initialize: () => (this.isInvokeLocal() ? local() : undefined),
      'before:package:initialize': deploy,
      'before:deploy:function:initialize': deploy,
      'before:invoke:local:loadEnvVars': () => this.injectIntoProcess(),
      'before:offline:start:init': local,
      'before:offline:start': local,
    };
  }

  isInvokeLocal() {
    const input = this.serverless.processedInput;
    const commands = (input && input.commands) || [];
    return commands[0] === 'invoke' && commands[1] === 'local';
  }

  // `invoke local` without the `initialize` hook (an older framework, or a lifecycle spawned by
  // another plugin): the framework has already filled process.env from the service, so the
  // secrets are written there too. `--env NAME=value` is applied after this hook and still wins.
  injectIntoProcess() {
    this.inject({ local: true });
    for (const [k, v] of this.injected) process.env[k] = v;
  }

  fail(message) {
    const ServerlessError = this.serverless.classes && this.serverless.classes.Error;
    return ServerlessError ? new ServerlessError(message, 'SLS_SECRETS') : new Error(message);
  }

  stage() {
    const provider = this.serverless.getProvider && this.serverless.getProvider('aws');
    if (provider && provider.getStage) return provider.getStage();
    return this.options.stage || this.serverless.service.provider.stage || 'dev';
  }

  serviceDir() {
    return this.serverless.serviceDir || (this.serverless.config && this.serverless.config.servicePath) || process.cwd();
  }

  // The binary's export for the stage; `null` when `local` and the stage has no secrets file.
  // A local run asks with `--allow-missing`: the binary decides (its stage rules first) and says
  // which file is missing in `missing`; a deploy never asks, so it fails on such a stage.
  exportSecrets(stage, { local }) {
    let bin;
    try {
      bin = findBinary();
    } catch (e) {
      if (e instanceof BinaryError) throw this.fail(e.message);
      throw e;
    }
    const args = ['export', '--stage', stage, '--format', 'json'];
    if (local) args.push('--allow-missing');
    let out;
    try {
      out = execFileSync(bin, args, {
        cwd: this.serviceDir(),
        stdio: ['ignore', 'pipe', 'pipe'],
        encoding: 'utf8',
        maxBuffer: 64 * 1024 * 1024,
      });
    } catch (e) {
      // stderr holds names and hints only; the binary never prints values there.
      const why = (e.stderr || '').toString().trim() || e.message;
      throw this.fail(`sls-secrets export failed for stage ${stage}:\n${why}`);
    }
    const data = JSON.parse(out);
    if (data.version !== EXPORT_VERSION) {
      throw this.fail(`sls-secrets: the binary speaks export version ${data.version}, this plugin ${EXPORT_VERSION}; install matching versions`);
    }
    if (data.missing) {
      this.warn(
        `sls-secrets: stage ${stage} has no secrets file (${data.missing}); ` +
          "this local run uses serverless.yml's values. Add secrets with " +
          `\`sls-secrets set --stage ${stage} NAME\` (package and deploy refuse the stage until then)`
      );
      return null;
    }
    return data;
  }

  inject({ local }) {
    if (this.done) return;
    this.done = true;
    const service = this.serverless.service;
    const custom = (service.custom && service.custom.slsSecrets) || {};
    if (custom.enabled === false) {
      this.info('sls-secrets: custom.slsSecrets.enabled is false; leaving the environment alone');
      return;
    }
    const stage = this.stage();
    const data = this.exportSecrets(stage, { local });
    if (data === null) return;
    if (!data.setEnv) {
      this.info('sls-secrets: seed.yml sets sls_set_secret_envs: false; leaving the environment alone');
      return;
    }
    // A stage rule gave the secrets (or none, on purpose): say which (names, never values).
    if (data.from) this.info(`sls-secrets: ${data.from}`);
    const secrets = Object.entries(data.secrets);
    for (const [name] of secrets) {
      if (RESERVED.has(name)) throw this.fail(`sls-secrets: \`${name}\` is reserved by AWS Lambda and can't be set on a function`);
      if (!NAME.test(name)) throw this.fail(`sls-secrets: \`${name}\` is not a valid environment variable name`);
    }
    if (secrets.length === 0) return;
    const shadowed = this.place(service, secrets);
    this.checkSizes(service);
    this.injected = secrets;
    const names = secrets.map(([n]) => n).join(', ');
    this.info(`sls-secrets: set ${names} for stage ${stage}`);
    if (shadowed.length) {
      this.info(`sls-secrets: also overrode them in ${shadowed.join(', ')} (their own environment would shadow the secrets)`);
    }
  }

  // render's rules: provider.environment; every function whose own environment sets a secret's
  // name (Serverless merges per key, the function wins); every function when the provider
  // environment is not a map (an unresolved variable).
  place(service, secrets) {
    const provider = service.provider;
    const functions = service.functions || {};
    let perFunction = false;
    if (provider.environment === undefined || provider.environment === null) {
      provider.environment = {};
    } else if (!isMap(provider.environment)) {
      perFunction = true;
    }
    if (!perFunction) {
      for (const [k, v] of secrets) provider.environment[k] = v;
    }
    const touched = [];
    for (const [fname, fn] of Object.entries(functions)) {
      if (!isMap(fn)) continue;
      if (perFunction && !isMap(fn.environment)) fn.environment = {};
      if (!isMap(fn.environment)) continue;
      let changed = false;
      for (const [k, v] of secrets) {
        if (perFunction || Object.prototype.hasOwnProperty.call(fn.environment, k)) {
          fn.environment[k] = v;
          changed = true;
        }
      }
      if (changed && !perFunction) touched.push(fname);
    }
    return touched;
  }

  // Lambda's 4 KB limit on each function's merged environment (keys and values).
  checkSizes(service) {
    const providerEnv = isMap(service.provider.environment) ? service.provider.environment : {};
    const functions = Object.entries(service.functions || {});
    const targets = functions.length ? functions : [['provider.environment', {}]];
    for (const [fname, fn] of targets) {
      const merged = { ...providerEnv, ...(isMap(fn && fn.environment) ? fn.environment : {}) };
      const sizes = Object.entries(merged).map(([k, v]) => [k, entrySize(k, v)]);
      const total = sizes.reduce((a, [, s]) => a + s, 0);
      if (total > LAMBDA_ENV_LIMIT) {
        const largest = sizes.sort((a, b) => b[1] - a[1]).slice(0, 3).map(([k, s]) => `${k} (${s} bytes)`);
        throw this.fail(`sls-secrets: function ${fname}: environment is ${total} bytes, over Lambda's ${LAMBDA_ENV_LIMIT}; largest: ${largest.join(', ')}`);
      }
    }
  }
}

module.exports = SlsSecretsPlugin;
