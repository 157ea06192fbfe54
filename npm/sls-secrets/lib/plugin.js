'use strict';
// The Serverless plugin (`plugins: [sls-secrets]`): before packaging, deploying a function,
// invoking locally or starting serverless-offline, it sends the binary the resolved service's
// shape (environment keys and sizes, `custom.slsSecrets`; never their values) and gets back
// where each of the stage's secrets goes (`export --format json --place`, over pipes), which it
// sets in the service, in memory. Every rule (names, reserved names, scope, shadowing, 4 KB)
// is the binary's, the same code as `sls-secrets render` (src/lambda.rs, docs/npm.md). No file
// is written; values need no `${` escaping because variables are resolved before plugin hooks
// run. Logs names, never values. Local runs (`invoke local`, `offline`) of a stage without a secrets file go on
// with serverless.yml's values and a warning; `package`/`deploy` refuse such a stage.
// `custom.slsSecrets.delivery: sealed` puts no value in any environment: lib/sealed.js.

const { execFileSync } = require('child_process');
const fs = require('fs');
const path = require('path');
const { findBinary, BinaryError } = require('./binary');
const sealed = require('./sealed');

const EXPORT_VERSION = 1;

const isMap = (v) => v !== null && typeof v === 'object' && !Array.isArray(v);

// One environment as the binary reads it: each key with the bytes Lambda will count for its
// value and whether that is an estimate (an intrinsic counted as its JSON text); "opaque" when
// it is not an object (an unresolved variable). The values themselves never leave this process.
function envShape(env) {
  if (env === undefined || env === null) return null;
  if (!isMap(env)) return 'opaque';
  const out = {};
  for (const [k, v] of Object.entries(env)) {
    if (v === null || v === undefined) out[k] = [0, false];
    else if (typeof v === 'string') out[k] = [Buffer.byteLength(v), false];
    else out[k] = [Buffer.byteLength(JSON.stringify(v)), true];
  }
  return out;
}

// The resolved service as `export --place` reads it on stdin (docs/npm.md).
function serviceShape(service, settings) {
  const functions = service.functions;
  let fns = {};
  if (isMap(functions)) {
    for (const [name, fn] of Object.entries(functions)) {
      fns[name] = isMap(fn) ? { environment: envShape(fn.environment) } : 'opaque';
    }
  } else if (functions !== undefined && functions !== null) {
    fns = null;
  }
  return JSON.stringify({
    provider: { environment: envShape(service.provider && service.provider.environment) },
    functions: fns,
    slsSecrets: settings || null,
  });
}

// custom.slsSecrets, declared to the framework so `configValidationMode: error` accepts it.
const SETTINGS_SCHEMA = {
  type: 'object',
  properties: {
    enabled: { type: 'boolean' },
    include: { anyOf: [{ type: 'string' }, { type: 'array', items: { type: 'string' } }] },
    exclude: { anyOf: [{ type: 'string' }, { type: 'array', items: { type: 'string' } }] },
    functions: {
      type: 'object',
      additionalProperties: { anyOf: [{ type: 'string' }, { type: 'array', items: { type: 'string' } }] },
    },
    // environment (the default): values in the functions' environment; sealed: docs/sealed.md.
    delivery: { enum: ['environment', 'sealed'] },
    kmsKeyArn: { type: 'string' },
  },
  additionalProperties: false,
};

class SlsSecretsPlugin {
  constructor(serverless, options, utils) {
    this.serverless = serverless;
    this.options = options || {};
    const log = utils && utils.log;
    this.info = (msg) => (log ? log.notice(msg) : serverless.cli.log(msg));
    const warn = log && log.warning;
    this.warn = (msg) => (warn ? log.warning(msg) : serverless.cli.log(msg));
    this.done = false;
    // What inject() set, for invoke local's process.env: the provider's and each function's.
    this.injected = { provider: {}, functions: {} };
    const schema = serverless.configSchemaHandler;
    if (schema && typeof schema.defineCustomProperties === 'function') {
      schema.defineCustomProperties({ properties: { slsSecrets: SETTINGS_SCHEMA } });
    }
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
      // Sealed delivery compiles its own layer (lib/sealed.js: `package` stays offline).
      'before:package:compileLayers': () => {
        if (this.sealing) this.sealedLayer = sealed.hideLayer(this.serverless.service);
      },
      'after:package:compileLayers': () => {
        if (this.sealedLayer) sealed.compileLayer(this.serverless, this.sealedLayer);
      },
    };
  }

  isCommand(first, second) {
    const input = this.serverless.processedInput;
    const commands = (input && input.commands) || [];
    return commands[0] === first && commands[1] === second;
  }

  isInvokeLocal() {
    return this.isCommand('invoke', 'local');
  }

  // `invoke local` without the `initialize` hook (an older framework, or a lifecycle spawned by
  // another plugin): the framework has already filled process.env from the service, so the
  // secrets are written there too. `--env NAME=value` is applied after this hook and still wins.
  injectIntoProcess() {
    this.inject({ local: true });
    const own = this.injected.functions[this.options.function] || {};
    Object.assign(process.env, this.injected.provider, own);
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
  exportSecrets(stage, { local }, input) {
    const args = ['export', '--stage', stage, '--format', 'json', '--place'];
    if (local) args.push('--allow-missing');
    const data = this.runBinary(args, input, `export failed for stage ${stage}`);
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

  // Runs the binary in the service folder with `input` on stdin; its JSON answer.
  runBinary(args, input, what) {
    let bin;
    try {
      bin = findBinary();
    } catch (e) {
      if (e instanceof BinaryError) throw this.fail(e.message);
      throw e;
    }
    let out;
    try {
      out = execFileSync(bin, args, {
        cwd: this.serviceDir(),
        input,
        stdio: ['pipe', 'pipe', 'pipe'],
        encoding: 'utf8',
        maxBuffer: 64 * 1024 * 1024,
      });
    } catch (e) {
      // stderr holds names and hints only; the binary never prints values there.
      const why = (e.stderr || '').toString().trim() || e.message;
      throw this.fail(`sls-secrets ${what}:\n${why}`);
    }
    const data = JSON.parse(out);
    if (data.version !== EXPORT_VERSION) {
      throw this.fail(`sls-secrets: the binary speaks export version ${data.version}, this plugin ${EXPORT_VERSION}; install matching versions`);
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
    // Local runs put nothing in an artifact: they get the secrets in the environment either way.
    if (!local && custom.delivery === 'sealed') return this.seal(service, custom, stage);
    const data = this.exportSecrets(stage, { local }, serviceShape(service, custom));
    if (data === null) return;
    if (!data.setEnv) {
      this.info('sls-secrets: seed.yml sets sls_set_secret_envs: false; leaving the environment alone');
      return;
    }
    // A stage rule gave the secrets (or none, on purpose): say which (names, never values).
    if (data.from) this.info(`sls-secrets: ${data.from}`);
    this.apply(service, data.place);
    const names = new Set(Object.keys(data.place.provider));
    for (const values of Object.values(data.place.functions)) {
      for (const name of Object.keys(values)) names.add(name);
    }
    if (names.size) this.info(`sls-secrets: set ${[...names].join(', ')} for stage ${stage}`);
    for (const note of data.place.notes) this.info(`sls-secrets: ${note}`);
  }

  // Sealed delivery (lib/sealed.js, docs/sealed.md): the binary seals each function's secrets
  // for the KMS key into the package; the service gets the layer, three variables per function
  // (no value) and the role's kms:Decrypt.
  seal(service, custom, stage) {
    const fail = (m) => this.fail(m);
    if (this.isCommand('deploy', 'function')) {
      throw fail('sls-secrets: `deploy function` can\'t update a sealed payload, its layer and its role; run `serverless deploy`');
    }
    const arn = custom.kmsKeyArn;
    if (typeof arn !== 'string' || !arn) {
      throw fail('sls-secrets: custom.slsSecrets.delivery is sealed but custom.slsSecrets.kmsKeyArn is not set\nhint: the ARN of the KMS key the functions\' role may decrypt with (docs/sealed.md)');
    }
    const dir = this.serviceDir();
    const binary = sealed.layerBinary(fail, sealed.checkService(service, fail), dir);
    fs.rmSync(path.join(dir, sealed.BASE), { recursive: true, force: true });
    if (typeof service.service !== 'string' || !service.service) {
      throw fail('sls-secrets: sealed delivery needs the service\'s name (`service:` in serverless.yml) for its KMS encryption context');
    }
    const args = ['seal', '--stage', stage, '--service', service.service, '--kms-key', arn, '--out', path.join(dir, sealed.PAYLOADS)];
    const data = this.runBinary(args, serviceShape(service, custom), `seal failed for stage ${stage}`);
    if (!data.setEnv) {
      this.info('sls-secrets: seed.yml sets sls_set_secret_envs: false; nothing sealed');
      return;
    }
    if (data.from) this.info(`sls-secrets: ${data.from}`);
    const functions = Object.keys(data.functions);
    if (functions.length === 0) {
      this.info(`sls-secrets: no function gets secrets for stage ${stage}; nothing sealed`);
      return;
    }
    sealed.writeLayer(dir, binary);
    this.sealing = true;
    sealed.apply({ serverless: this.serverless, service, stage, arn, sealed: data.functions, warn: this.warn, fail });
    const names = new Set(functions.flatMap((f) => data.functions[f].names));
    this.info(
      `sls-secrets: sealed ${[...names].join(', ')} for stage ${stage} with KMS key ${arn} ` +
        `(functions ${functions.join(', ')}; no value in their environment)`
    );
    for (const note of data.notes) this.info(`sls-secrets: ${note}`);
  }

  // Sets what the binary placed (Lambda's rules are the binary's: names, reserved names,
  // scope, shadowing functions, a variable provider environment, 4 KB; src/lambda.rs).
  apply(service, place) {
    const assign = (holder, values) => {
      if (Object.keys(values).length === 0) return;
      if (!isMap(holder.environment)) holder.environment = {};
      Object.assign(holder.environment, values);
    };
    assign(service.provider, place.provider);
    for (const [name, values] of Object.entries(place.functions)) {
      assign(service.functions[name], values);
    }
    this.injected = { provider: place.provider, functions: place.functions };
  }
}

module.exports = SlsSecretsPlugin;
