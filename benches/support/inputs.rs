//! Benchmark inputs, generated deterministically (no randomness, so every run and every
//! machine measures the same bytes). Shared by the criterion benches and the
//! `bench_inputs` example that writes them to `target/bench-inputs/` for `scripts/bench`.

#![allow(dead_code)] // each includer uses a different subset

use sls_secrets::sops::{Metadata, PlainFile};
use sls_secrets::yaml::{MapItem, Text, Value};

/// The committed test-only age identity (tests/common) and its recipient.
pub const AGE_KEY: &str =
    "AGE-SECRET-KEY-1NJT5YCS2LWU4V4QAJQ6R4JNU7LXPDX602DZ9NUFANVU5GDTGUWCQ5T59M6";
pub const AGE_RECIPIENT: &str = "age1yt3tfqlfrwdwx0z0ynwplcr6qxcxfaqycuprpmy89nr83ltx74tqdpszlw";

/// Fixed `lastmodified`, so generated files differ only in their random IVs.
const NOW: &str = "2025-01-01T00:00:00Z";

/// `n` secrets named `SECRET_000`.. with values of about `len` bytes. The values mix in
/// characters that need escaping or quoting (`"`, `\`, `${`, `: `, ` #`, a leading `*`, a
/// newline, non-ASCII), so quoting is exercised, not just copying.
pub fn secrets(n: usize, len: usize) -> Vec<(String, String)> {
    const SPICE: [&str; 8] = ["", "\"q\"", "a\\b", "${x}", "k: v", "x #y", "*ref", "é\n"];
    (0..n)
        .map(|i| {
            let mut v = format!("{}{i:03}", SPICE[i % SPICE.len()]);
            let mut c = b'a' + (i % 26) as u8;
            while v.len() < len {
                v.push(c as char);
                c = if c == b'z' { b'0' } else { c + 1 };
            }
            (format!("SECRET_{i:03}"), v)
        })
        .collect()
}

/// A typical service: ~200 lines, 10 functions, provider and function environments, tags,
/// flow maps, block scalars, comments; two functions shadow a secret.
pub fn typical() -> String {
    let mut s = String::from(
        "# Orders service — deployed by CI with sls-secrets\n\
         service: orders-api\n\
         frameworkVersion: \"3\"\n\
         \n\
         plugins:\n  - serverless-offline\n  - serverless-iam-roles-per-function\n\
         \n\
         custom:\n  tableName: orders-${sls:stage}\n  bucket: ${self:service}-${sls:stage}-uploads\n\
         \n\
         provider:\n\
         \x20 name: aws\n\
         \x20 runtime: nodejs20.x\n\
         \x20 region: eu-west-1\n\
         \x20 stage: ${opt:stage, 'dev'}\n\
         \x20 memorySize: 512\n\
         \x20 timeout: 10\n\
         \x20 logRetentionInDays: 14\n\
         \x20 tracing: { lambda: true, apiGateway: true }\n\
         \x20 environment:\n\
         \x20   LOG_LEVEL: info            # plain values stay as they are\n\
         \x20   TABLE_NAME: ${self:custom.tableName}\n\
         \x20   BUCKET: !Ref UploadsBucket\n\
         \x20   SECRET_000: placeholder    # overridden by the secret\n\
         \x20   NODE_OPTIONS: --enable-source-maps\n\
         \x20 iam:\n\
         \x20   role:\n\
         \x20     statements:\n\
         \x20       - Effect: Allow\n\
         \x20         Action: [dynamodb:GetItem, dynamodb:PutItem, dynamodb:Query]\n\
         \x20         Resource: !GetAtt OrdersTable.Arn\n\
         \x20       - Effect: Allow\n\
         \x20         Action:\n\
         \x20           - s3:GetObject\n\
         \x20           - s3:PutObject\n\
         \x20         Resource: arn:aws:s3:::${self:custom.bucket}/*\n\
         \n\
         functions:\n",
    );
    for i in 0..8 {
        s.push_str(&format!(
            "  handler{i}:\n\
             \x20   handler: src/handlers/h{i}.main\n\
             \x20   description: |\n\
             \x20     Handler {i}: reads orders, writes results ✓\n\
             \x20     (second line of the description)\n\
             \x20   timeout: 29 # API Gateway limit\n"
        ));
        if i % 3 == 0 {
            s.push_str(&format!(
                "    environment:\n\
                 \x20     QUEUE_URL: !Ref Queue{i}\n\
                 \x20     FEATURE_FLAGS: {{ beta: true, region: \"eu\" }}\n\
                 \x20     SECRET_{:03}: shadowed-{i}\n",
                i + 1
            ));
        }
        s.push_str(&format!(
            "    events:\n\
             \x20     - httpApi:\n\
             \x20         method: POST\n\
             \x20         path: /orders/{i}\n\
             \x20     - sqs:\n\
             \x20         arn: !GetAtt Queue{i}.Arn\n\
             \x20         batchSize: 10\n\
             \n"
        ));
    }
    s.push_str(
        "resources:\n\
         \x20 Resources:\n\
         \x20   OrdersTable:\n\
         \x20     Type: AWS::DynamoDB::Table\n\
         \x20     Properties:\n\
         \x20       TableName: ${self:custom.tableName}\n\
         \x20       BillingMode: PAY_PER_REQUEST\n\
         \x20       AttributeDefinitions:\n\
         \x20         - AttributeName: id\n\
         \x20           AttributeType: S\n\
         \x20       KeySchema:\n\
         \x20         - AttributeName: id\n\
         \x20           KeyType: HASH\n\
         \x20   UploadsBucket:\n\
         \x20     Type: AWS::S3::Bucket\n\
         \x20     Properties:\n\
         \x20       BucketName: ${self:custom.bucket}\n",
    );
    for i in 0..8 {
        s.push_str(&format!(
            "    Queue{i}:\n\
             \x20     Type: AWS::SQS::Queue\n\
             \x20     Properties:\n\
             \x20       VisibilityTimeout: 60\n"
        ));
    }
    s
}

/// The large case: 2,000 functions, ~42k lines, ~1.2 MB, non-ASCII, with a tag, a block
/// scalar, flow maps and an environment in every function; each function's environment
/// shadows one of `secrets` secrets.
pub fn large(functions: usize, secrets: usize) -> String {
    let mut s = String::from(
        "# Large generated service ✓ (benchmark input)\n\
         service: big-service\n\
         frameworkVersion: \"3\"\n\
         provider:\n\
         \x20 name: aws\n\
         \x20 runtime: nodejs20.x\n\
         \x20 stage: ${opt:stage, 'dev'}\n\
         \x20 environment:\n\
         \x20   LOG_LEVEL: info # größe\n\
         \x20   TABLE: !Ref MainTable\n\
         \x20   SECRET_000: old-value\n\
         \x20   SECRET_001: \"old ${x}\"\n\
         functions:\n",
    );
    for i in 0..functions {
        s.push_str(&format!(
            "  fn{i:04}:\n\
             \x20   handler: src/handlers/fn{i:04}.main   # größe ✓\n\
             \x20   description: |\n\
             \x20     Function {i} — ünïcode description\n\
             \x20     spanning two lines\n\
             \x20   memorySize: 512\n\
             \x20   environment:\n\
             \x20     TABLE: !Ref Table{i:04}\n\
             \x20     FLOW: {{ a: 1, b: \"two\" }}\n\
             \x20     SECRET_{:03}: shadow-{i}\n\
             \x20     LOG_LEVEL: debug\n\
             \x20   events:\n\
             \x20     - http:\n\
             \x20         path: /fn{i:04}\n\
             \x20         method: get\n\
             \x20         cors: true\n\
             \x20     - sqs:\n\
             \x20         arn: !GetAtt Queue{i:04}.Arn\n\
             \x20         batchSize: 10\n\
             \x20   tags: {{ team: core, tier: 'gold' }}\n\
             \n",
            i % secrets.max(1)
        ));
    }
    s
}

/// An encrypted sops file (age, the test recipient) holding `pairs`, as sops would write it.
pub fn encrypted(pairs: &[(String, String)]) -> String {
    let key = sls_secrets::sops::DataKey::generate().expect("random data key");
    let age = sls_secrets::store::wrap_age(&key, &[AGE_RECIPIENT.to_string()]).expect("age wrap");
    let mut file = PlainFile::new(key, Metadata::new(age, Vec::new()));
    let top = file.top_mut();
    for (k, v) in pairs {
        top.push(MapItem::Entry(k.clone(), Value::Str(Text::new(v.clone()))));
    }
    file.encrypt(NOW).expect("encrypt")
}
