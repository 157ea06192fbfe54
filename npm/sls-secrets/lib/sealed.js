'use strict';
// Sealed delivery (`custom.slsSecrets.delivery: sealed`, docs/sealed.md): no secret value goes
// into any function's environment. `sls-secrets seal` writes each function's share of the
// stage's secrets (placed by the same rules as environment delivery) as a sops file wrapped for
// `custom.slsSecrets.kmsKeyArn` only, into .serverless/sls-secrets/sealed/, which the package
// includes. This adds a layer holding a Linux sls-secrets binary and the exec-wrapper script,
// sets AWS_LAMBDA_EXEC_WRAPPER, SLS_SECRETS_SEALED (a path, not a secret) and SLS_SECRETS_SEALED_MAC
// (the payload's wrapped key and encrypted MAC, for `status`) on each function
// that gets secrets, and lets the role `kms:Decrypt` with that key only. At cold start the
// wrapper decrypts once and execs the runtime with the secrets (`sls-secrets wrap`).

const fs = require('fs');
const path = require('path');

// Relative to the service folder: inside .serverless/ (build output the framework cleans at
// each `package`), so nothing is written into the sources.
const BASE = path.join('.serverless', 'sls-secrets');
const PAYLOADS = `${BASE}/sealed`;
const LAYER = `${BASE}/layer`;
const LAYER_KEY = 'slsSecrets';
const WRAPPER_NAME = 'sls-secrets-wrapper';
// Lambda unpacks layers into /opt.
const WRAPPER_PATH = `/opt/${WRAPPER_NAME}`;
// `${0%/*}`: the script's own folder, so the layer works wherever it is unpacked (tests
// unpack it elsewhere); no external command is needed.
const WRAPPER_SCRIPT =
  '#!/bin/sh\n' +
  '# AWS_LAMBDA_EXEC_WRAPPER (sls-secrets sealed delivery): open the sealed secrets, then exec\n' +
  '# the runtime with them; on failure one log line and the runtime is not started.\n' +
  'exec "${0%/*}/bin/sls-secrets" wrap -- "$@"\n';
const ELF_MACHINES = { x86_64: 0x3e, arm64: 0xb7 };

const isMap = (v) => v !== null && typeof v === 'object' && !Array.isArray(v);

// The npm package holding the static Linux build for the functions' architecture: no os/cpu
// fields, so it installs on the machine that packages whatever that machine is.
const LAYER_PACKAGES = { x86_64: '@sls-secrets/lambda-layer-x64', arm64: '@sls-secrets/lambda-layer-arm64' };

// The Linux binary for the layer (the functions run on Lambda, not on this machine):
// SLS_SECRETS_LAYER_BINARY, else the layer package installed in the service.
function layerBinary(fail, architecture, serviceDir) {
  const pkg = LAYER_PACKAGES[architecture];
  const hint =
    `hint: \`npm i -D ${pkg}\` (the static Linux ${architecture} build each release ships), or set ` +
    `SLS_SECRETS_LAYER_BINARY to the absolute path of a Linux ${architecture} build of sls-secrets (docs/sealed.md)`;
  const override = process.env.SLS_SECRETS_LAYER_BINARY;
  const name = override ? `SLS_SECRETS_LAYER_BINARY=${override}` : pkg;
  let bin = override;
  if (!bin) {
    try {
      bin = require.resolve(`${pkg}/bin/sls-secrets`, { paths: [serviceDir, __dirname] });
    } catch {
      throw fail(`sls-secrets: sealed delivery needs a Linux sls-secrets binary for the Lambda layer, and ${pkg} is not installed\n${hint}`);
    }
  }
  if (!path.isAbsolute(bin) || !fs.existsSync(bin) || !fs.statSync(bin).isFile()) {
    throw fail(`sls-secrets: ${name} is not an absolute path to a file\n${hint}`);
  }
  const head = Buffer.alloc(20);
  const fd = fs.openSync(bin, 'r');
  try {
    fs.readSync(fd, head, 0, 20, 0);
  } finally {
    fs.closeSync(fd);
  }
  const elf = head.readUInt32BE(0) === 0x7f454c46;
  if (!elf || head.readUInt16LE(18) !== ELF_MACHINES[architecture]) {
    throw fail(`sls-secrets: ${name} (${bin}) is not a Linux ${architecture} executable\n${hint}`);
  }
  return bin;
}

// What sealed delivery can't serve, refused before anything is sealed.
function checkService(service, fail) {
  const provider = service.provider || {};
  if (service.package && service.package.artifact) {
    throw fail('sls-secrets: sealed delivery adds its payload to the package, so package.artifact (a prebuilt package) is not supported');
  }
  const architectures = new Set();
  for (const [name, fn] of Object.entries(service.functions || {})) {
    if (!isMap(fn)) continue;
    if (fn.image) throw fail(`sls-secrets: function \`${name}\` is a container image; sealed delivery needs a managed runtime (layers and AWS_LAMBDA_EXEC_WRAPPER)`);
    const runtime = fn.runtime || provider.runtime || '';
    if (runtime.startsWith('provided')) {
      throw fail(`sls-secrets: function \`${name}\` uses the custom runtime ${runtime}, which ignores AWS_LAMBDA_EXEC_WRAPPER; sealed delivery needs a managed runtime`);
    }
    if (fn.package && fn.package.artifact) {
      throw fail(`sls-secrets: function \`${name}\` has a prebuilt package.artifact; sealed delivery adds its payload to the package`);
    }
    architectures.add(fn.architecture || provider.architecture || 'x86_64');
  }
  if (architectures.size > 1) {
    throw fail('sls-secrets: sealed delivery ships one layer binary; the functions mix x86_64 and arm64');
  }
  return [...architectures][0] || provider.architecture || 'x86_64';
}

// Lambda's limit of layers per function: the wrapper's needs one of them.
const MAX_LAYERS = 5;

// The KMS encryption context `sls-secrets seal --service` binds the payloads to (src/sealed.rs).
function decryptCondition(serviceName, stage) {
  return {
    StringEquals: {
      'kms:EncryptionContext:sls-secrets:service': serviceName,
      'kms:EncryptionContext:sls-secrets:stage': stage,
    },
  };
}

// kms:Decrypt on the one key, for this service's and stage's payloads only (the encryption
// context: not another stage's payload nor a stage file's data key wrapped with the same key),
// for the role the framework makes; a role of your own is yours.
function grantDecrypt(service, arn, stage, warn) {
  const provider = service.provider;
  const condition = decryptCondition(service.service, stage);
  const statement = { Effect: 'Allow', Action: ['kms:Decrypt'], Resource: arn, Condition: condition };
  const grant = `kms:Decrypt on ${arn} with the condition ${JSON.stringify(condition)}`;
  const role = provider.iam && provider.iam.role;
  const ownRole =
    typeof role === 'string' ||
    (isMap(role) && Object.keys(role).some((k) => k.includes('::'))) ||
    'role' in provider;
  if (ownRole) {
    warn(`sls-secrets: provider.iam.role is a role of your own; grant it ${grant} (sealed delivery)`);
    return;
  }
  const withRole = Object.entries(service.functions || {}).filter(([, fn]) => isMap(fn) && fn.role);
  for (const [name] of withRole) {
    warn(`sls-secrets: function \`${name}\` has a role of its own; grant it ${grant} (sealed delivery)`);
  }
  // The older form when the service uses it (the framework reads one or the other).
  if (Array.isArray(provider.iamRoleStatements) && !(isMap(role) && Array.isArray(role.statements))) {
    provider.iamRoleStatements.push(statement);
    return;
  }
  provider.iam = isMap(provider.iam) ? provider.iam : {};
  provider.iam.role = isMap(provider.iam.role) ? provider.iam.role : {};
  const statements = provider.iam.role.statements;
  provider.iam.role.statements = [...(Array.isArray(statements) ? statements : []), statement];
}

// The layer's folder: the binary and the wrapper script, both executable.
function writeLayer(serviceDir, binary) {
  const dir = path.join(serviceDir, LAYER);
  fs.mkdirSync(path.join(dir, 'bin'), { recursive: true });
  fs.copyFileSync(binary, path.join(dir, 'bin', 'sls-secrets'));
  fs.chmodSync(path.join(dir, 'bin', 'sls-secrets'), 0o755);
  fs.writeFileSync(path.join(dir, WRAPPER_NAME), WRAPPER_SCRIPT, { mode: 0o755 });
  fs.chmodSync(path.join(dir, WRAPPER_NAME), 0o755);
}

function layerRef(serverless) {
  const provider = serverless.getProvider && serverless.getProvider('aws');
  const naming = provider && provider.naming;
  const id = naming ? naming.getLambdaLayerLogicalId(LAYER_KEY) : 'SlsSecretsLambdaLayer';
  return { Ref: id };
}

// Sets what sealing needs in the service: the layer, each sealed function's three variables and
// layer, the payloads in the package, the role's statement. `sealed`: function → {file, names, mac}.
function apply({ serverless, service, stage, arn, sealed, warn, fail }) {
  const provider = service.provider;
  for (const env of [provider.environment, ...Object.keys(sealed).map((f) => service.functions[f].environment)]) {
    if (isMap(env) && env.AWS_LAMBDA_EXEC_WRAPPER !== undefined) {
      throw fail('sls-secrets: AWS_LAMBDA_EXEC_WRAPPER is set in serverless.yml; sealed delivery needs it for its own wrapper');
    }
  }
  service.layers = isMap(service.layers) ? service.layers : {};
  if (service.layers[LAYER_KEY]) {
    throw fail(`sls-secrets: serverless.yml defines a layer \`${LAYER_KEY}\`; sealed delivery needs that name for its own`);
  }
  service.layers[LAYER_KEY] = {
    path: LAYER,
    name: `${service.service}-${stage}-sls-secrets`,
    description: 'sls-secrets sealed delivery: the exec wrapper that decrypts the secrets at cold start',
  };
  const ref = layerRef(serverless);
  for (const [name, { file, mac }] of Object.entries(sealed)) {
    const fn = service.functions[name];
    if (fn.environment !== undefined && fn.environment !== null && !isMap(fn.environment)) {
      throw fail(`sls-secrets: function \`${name}\`'s environment is not a mapping; sealed delivery sets three variables there`);
    }
    fn.environment = Object.assign({}, fn.environment, {
      AWS_LAMBDA_EXEC_WRAPPER: WRAPPER_PATH,
      SLS_SECRETS_SEALED: `${PAYLOADS}/${file}`,
      // The payload's wrapped key and encrypted MAC (ciphertext, in the zip too), for `status`.
      SLS_SECRETS_SEALED_MAC: mac,
    });
    const inherited = Array.isArray(fn.layers) ? fn.layers : Array.isArray(provider.layers) ? provider.layers : [];
    if (inherited.length >= MAX_LAYERS) {
      throw fail(`sls-secrets: function \`${name}\` already has ${inherited.length} layers, Lambda's limit; sealed delivery adds one for its wrapper\nhint: merge two of its layers into one, or give it no secrets (custom.slsSecrets.functions)`);
    }
    fn.layers = [...inherited, ref];
    // Packaged on its own, a function's patterns come after the service's (a common `!**`
    // there would drop the payload, and the function would fail at its first cold start).
    const own = isMap(fn.package) ? fn.package : {};
    if (own.individually || (isMap(service.package) && service.package.individually)) {
      const patterns = Array.isArray(own.patterns) ? own.patterns : [];
      fn.package = Object.assign({}, own, { patterns: [...patterns, `${PAYLOADS}/${file}`] });
    }
  }
  service.package = isMap(service.package) ? service.package : {};
  const patterns = service.package.patterns;
  service.package.patterns = [...(Array.isArray(patterns) ? patterns : []), `${PAYLOADS}/**`];
  grantDecrypt(service, arn, stage, warn);
}

// The framework's own layer compile asks CloudFormation for the last deployed layer's hash
// (`describeStacks`), so `package` of any service with a layer needs AWS access. Ours is taken
// out of the service while the framework compiles layers and compiled here the framework's
// way (the same resource; a new version each deploy), so `package` stays offline. The framework
// still zips it before and uploads it after.
function hideLayer(service) {
  const layer = isMap(service.layers) ? service.layers[LAYER_KEY] : undefined;
  if (layer) delete service.layers[LAYER_KEY];
  return layer;
}

function compileLayer(serverless, layer) {
  const service = serverless.service;
  const { Ref: id } = layerRef(serverless);
  const resource = {
    Type: 'AWS::Lambda::LayerVersion',
    Properties: {
      Content: {
        S3Bucket: service.package.deploymentBucket || { Ref: 'ServerlessDeploymentBucket' },
        S3Key: `${service.package.artifactDirectoryName}/${path.basename(layer.package.artifact)}`,
      },
      LayerName: layer.name,
      Description: layer.description,
    },
  };
  // The framework's functions hash their layers' configuration by this name.
  Object.defineProperty(resource, '_serverlessLayerName', { value: LAYER_KEY });
  service.provider.compiledCloudFormationTemplate.Resources[id] = resource;
  service.layers = isMap(service.layers) ? service.layers : {};
  service.layers[LAYER_KEY] = layer;
}

module.exports = {
  BASE,
  PAYLOADS,
  LAYER,
  WRAPPER_PATH,
  layerBinary,
  checkService,
  writeLayer,
  apply,
  hideLayer,
  compileLayer,
};
