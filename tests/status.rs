//! `status`: a stage's deployed functions against git, by name only. Against moto (started by
//! scripts/test with its CloudFormation and Lambda backends): a stack created from a template
//! whose function holds an old value is `stale` (exit 1, no value printed) until its
//! configuration is updated (`current`, exit 0); missing and extra names; `--json`; a missing
//! stack. Without moto: no credentials and an unreachable or silent endpoint fail in one clear
//! line, exit 2, in bounded time.

mod common;

use std::io::{Read, Write};
use std::process::Output;
use std::time::{Duration, Instant};

use common::{Repo, moto, pass_aws_env, stderr, stdout, tool};

const NEW: &str = "n3w-s3cret-value";
const OLD: &str = "0ld-s3cret-value";
const TOKEN: &str = "t0ken-s3cret";
/// Non-ASCII, astral too: moto answers it as `\u` escapes and surrogate pairs.
const UNI: &str = "ünïcödé ✓ 😀 \"q\" \\ /";
const GONE: &str = "g0ne-s3cret";

/// A service `svc` (stage dev) with one function and a provider variable of its own.
fn repo(service: &str) -> Repo {
    let r = Repo::with_config();
    r.set("dev", "API_KEY", NEW);
    r.set("dev", "TOKEN", TOKEN);
    r.write(
        "serverless.yml",
        &format!(
            "service: {service}\nprovider:\n  name: aws\n  runtime: python3.12\n  environment:\n    PLAIN: x\nfunctions:\n  hello:\n    handler: h.h\n"
        ),
    );
    r
}

/// `status ARGS` with the AWS variables pointing at `endpoint`.
fn status(r: &Repo, endpoint: &str, args: &[&str]) -> Output {
    let mut c = r.cmd(".");
    pass_aws_env(&mut c)
        .env("AWS_ENDPOINT_URL_CLOUDFORMATION", endpoint)
        .env("AWS_ENDPOINT_URL_LAMBDA", endpoint)
        .env("AWS_EC2_METADATA_DISABLED", "true")
        .arg("status")
        .args(args);
    c.output().unwrap()
}

/// One AWS request to moto: unsigned but with a credential scope naming the service (moto
/// routes by it and checks no signature unless told to); the whole response.
fn aws(base: &str, service: &str, method: &str, path: &str, ctype: &str, body: &str) -> String {
    let host = base.trim_start_matches("http://").trim_end_matches('/');
    let mut s = std::net::TcpStream::connect(host).expect("connect to moto");
    s.set_read_timeout(Some(Duration::from_secs(30))).unwrap();
    write!(
        s,
        "{method} {path} HTTP/1.1\r\nHost: {host}\r\nContent-Type: {ctype}\r\nAuthorization: AWS4-HMAC-SHA256 Credential=test/20260101/us-east-1/{service}/aws4_request, SignedHeaders=host, Signature=0\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    )
    .unwrap();
    let mut raw = String::new();
    s.read_to_string(&mut raw).expect("read moto response");
    assert!(
        raw.starts_with("HTTP/1.1 2") || raw.starts_with("HTTP/1.0 2"),
        "{method} {path}: {raw}"
    );
    raw
}

fn form(s: &str) -> String {
    s.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => {
                (b as char).to_string()
            }
            _ => format!("%{b:02X}"),
        })
        .collect()
}

/// The stack `<service>-dev` as Serverless would deploy it, its function's environment `env`.
fn create_stack(base: &str, service: &str, env: &str) {
    create_stack_with(base, &format!("{service}-dev"), &[("hello", env)]);
}

/// A stack with a role and, per `(function, env)`, the function `<stack>-<function>` under
/// Serverless's logical ID, its environment `env` (JSON).
fn create_stack_with(base: &str, stack: &str, functions: &[(&str, &str)]) {
    let mut resources = String::from(
        r#""Role":{"Type":"AWS::IAM::Role","Properties":{"AssumeRolePolicyDocument":{"Version":"2012-10-17","Statement":[]}}}"#,
    );
    for (function, env) in functions {
        let mut logical = function.to_owned().to_owned();
        logical[..1].make_ascii_uppercase();
        resources.push_str(&format!(
            r#","{logical}LambdaFunction":{{"Type":"AWS::Lambda::Function","Properties":{{"FunctionName":"{stack}-{function}","Runtime":"python3.12","Handler":"h.h","Role":{{"Fn::GetAtt":["Role","Arn"]}},"Code":{{"ZipFile":"def h(e, c): pass"}},"Environment":{{"Variables":{env}}}}}}}"#
        ));
    }
    let template = format!(r#"{{"Resources":{{{resources}}}}}"#);
    let body = format!(
        "Action=CreateStack&Version=2010-05-15&StackName={}&TemplateBody={}",
        form(stack),
        form(&template)
    );
    let ctype = "application/x-www-form-urlencoded";
    aws(base, "cloudformation", "POST", "/", ctype, &body);
}

/// The text of the first `<tag>…</tag>` in `xml`.
fn xml_field(xml: &str, tag: &str) -> String {
    let start = xml.find(&format!("<{tag}>")).expect(tag) + tag.len() + 2;
    let end = xml[start..].find("</").unwrap() + start;
    xml[start..end].to_owned()
}

fn update_env(base: &str, function: &str, env: &str) {
    let body = format!(r#"{{"Environment":{{"Variables":{env}}}}}"#);
    let path = format!("/2015-03-31/functions/{function}/configuration");
    aws(base, "lambda", "PUT", &path, "application/json", &body);
}

fn service_name(test: &str) -> String {
    let n = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_nanos();
    format!("{test}{}x{n}", std::process::id())
}

/// `status ARGS` exits with `code` and prints every one of `parts`; its stdout.
fn status_prints(r: &Repo, url: &str, args: &[&str], code: i32, parts: &[&str]) -> String {
    let o = status(r, url, args);
    assert_eq!(o.status.code(), Some(code), "{}{}", stdout(&o), stderr(&o));
    assert_no_value(&o);
    let out = stdout(&o);
    for part in parts {
        assert!(out.contains(part), "no {part:?} in:\n{out}");
    }
    out
}

/// `status --stage dev` prints [`repo`]'s three names current, exit 0.
fn all_current(r: &Repo, url: &str) {
    let parts = [
        "(us-east-1): current\n",
        "    current  API_KEY, TOKEN, UNI\n",
    ];
    status_prints(r, url, &["--stage", "dev"], 0, &parts);
}

fn assert_no_value(o: &Output) {
    let all = format!("{}{}", stdout(o), stderr(o));
    for v in [NEW, OLD, TOKEN, GONE, UNI] {
        assert!(!all.contains(v), "a value was printed:\n{all}");
    }
}

#[test]
#[ignore = "needs a moto server with CloudFormation and Lambda (scripts/test starts one)"]
fn stale_until_updated_then_current() {
    let m = moto();
    let service = service_name("st");
    let r = repo(&service);
    r.set("dev", "UNI", UNI);
    create_stack(
        &m.url,
        &service,
        &format!(r#"{{"API_KEY":"{OLD}","PLAIN":"x","GONE":"{GONE}"}}"#),
    );

    let out = status_prints(
        &r,
        &m.url,
        &["--stage", "dev"],
        1,
        &[
            &format!("dev: stack {service}-dev (us-east-1): redeploy\n"),
            &format!("  hello ({service}-dev-hello)\n"),
            "    stale    API_KEY\n",
            "    missing  TOKEN, UNI\n",
            "    extra    GONE\n",
        ],
    );
    assert!(
        !out.contains("PLAIN"),
        "serverless.yml's own variable is not ours: {out}"
    );

    let o = status(&r, &m.url, &["--stage", "dev", "--json"]);
    assert_eq!(o.status.code(), Some(1), "{}", stderr(&o));
    assert_no_value(&o);
    let j: serde_json::Value = serde_json::from_str(&stdout(&o)).unwrap();
    let stage = &j["stages"][0];
    assert_eq!(stage["stage"], "dev");
    assert_eq!(stage["behind"], true);
    let f = &stage["functions"][0];
    assert_eq!(f["function"], "hello");
    assert_eq!(f["deployedAs"], format!("{service}-dev-hello"));
    assert_eq!(f["stale"], serde_json::json!(["API_KEY"]));
    assert_eq!(f["missing"], serde_json::json!(["TOKEN", "UNI"]));
    assert_eq!(f["extra"], serde_json::json!(["GONE"]));
    assert_eq!(f["current"], serde_json::json!([]));

    update_env(
        &m.url,
        &format!("{service}-dev-hello"),
        &format!(
            r#"{{"API_KEY":"{NEW}","TOKEN":"{TOKEN}","PLAIN":"x","UNI":{}}}"#,
            serde_json::Value::from(UNI)
        ),
    );
    all_current(&r, &m.url);
}

#[test]
#[ignore = "needs a moto server with CloudFormation and Lambda (scripts/test starts one)"]
fn no_stack_is_an_error_for_a_stage_and_not_deployed_for_all() {
    let m = moto();
    let service = service_name("ns");
    let r = repo(&service);
    let o = status(&r, &m.url, &["--stage", "dev"]);
    assert_eq!(o.status.code(), Some(2), "{}", stdout(&o));
    let err = stderr(&o);
    assert!(
        err.contains(&format!(
            "stack `{service}-dev` does not exist in us-east-1"
        )),
        "{err}"
    );
    assert!(err.contains("hint:"), "{err}");
    assert_eq!(stdout(&o), "");

    let o = status(&r, &m.url, &["--all"]);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    assert!(stdout(&o).contains(": not deployed"), "{}", stdout(&o));
}

/// `--all` over two stages (one never deployed) and a secret scoped to one function: all
/// current, then a value changed in git makes exactly that function's name stale.
#[test]
#[ignore = "needs a moto server with CloudFormation and Lambda (scripts/test starts one)"]
fn all_stages_and_a_scoped_function() {
    let m = moto();
    let service = service_name("all");
    let r = repo(&service);
    r.set("dev", "ONLY_B", GONE);
    r.set("prod", "API_KEY", OLD);
    r.set("prod", "ONLY_B", OLD);
    r.write(
        "serverless.yml",
        &format!(
            "service: {service}\nprovider:\n  name: aws\nfunctions:\n  hello:\n    handler: h.h\n  b:\n    handler: h.h\ncustom:\n  slsSecrets:\n    functions:\n      b: [ONLY_B]\n"
        ),
    );
    let shared = format!(r#""API_KEY":"{NEW}","TOKEN":"{TOKEN}""#);
    let b_env = format!(r#"{{{shared},"ONLY_B":"{GONE}"}}"#);
    let stack = format!("{service}-dev");
    create_stack_with(
        &m.url,
        &stack,
        &[("hello", &format!("{{{shared}}}")), ("b", &b_env)],
    );

    status_prints(
        &r,
        &m.url,
        &["--all"],
        0,
        &[
            &format!("dev: stack {stack} (us-east-1): current\n"),
            &format!("  b ({stack}-b)\n    current  API_KEY, ONLY_B, TOKEN\n"),
            &format!("  hello ({stack}-hello)\n    current  API_KEY, TOKEN\n"),
            &format!("prod: stack {service}-prod (us-east-1): not deployed\n"),
        ],
    );
    let j: serde_json::Value =
        serde_json::from_str(&stdout(&status(&r, &m.url, &["--all", "--json"]))).unwrap();
    assert_eq!(j["stages"][1]["stage"], "prod");
    assert_eq!(j["stages"][1]["deployed"], false);

    r.set("dev", "ONLY_B", "changed in git");
    let o = status(&r, &m.url, &["--all", "--json"]);
    assert_eq!(o.status.code(), Some(1), "{}", stderr(&o));
    assert_no_value(&o);
    let j: serde_json::Value = serde_json::from_str(&stdout(&o)).unwrap();
    let functions = &j["stages"][0]["functions"];
    assert_eq!(functions[0]["function"], "hello");
    assert_eq!(functions[0]["stale"], serde_json::json!([]));
    assert_eq!(functions[1]["function"], "b");
    assert_eq!(functions[1]["stale"], serde_json::json!(["ONLY_B"]));
    assert_eq!(j["stages"][0]["behind"], true);
}

/// `status --stage dev` of a fresh repository with `vars` set (and IMDS off), failing: its
/// stderr and how long it took. No moto needed: the errors come before or without an answer.
fn failing_status(vars: &[(&str, &str)]) -> (String, Duration) {
    let r = repo("svc");
    let mut c = r.cmd(".");
    c.env("AWS_EC2_METADATA_DISABLED", "true");
    for (k, v) in vars {
        c.env(k, v);
    }
    let started = Instant::now();
    let o = c.args(["status", "--stage", "dev"]).output().unwrap();
    let took = started.elapsed();
    assert_eq!(o.status.code(), Some(2), "{}", stdout(&o));
    assert_eq!(stdout(&o), "");
    assert_no_value(&o);
    let err = stderr(&o);
    assert!(err.contains("hint:"), "{err}");
    (err, took)
}

const KEYS: [(&str, &str); 2] = [
    ("AWS_ACCESS_KEY_ID", "test"),
    ("AWS_SECRET_ACCESS_KEY", "test"),
];

#[test]
fn no_credentials_is_one_clear_error() {
    let (err, took) = failing_status(&[("AWS_ENDPOINT_URL", "http://127.0.0.1:9")]);
    assert!(err.contains("no AWS credentials"), "{err}");
    assert!(took < Duration::from_secs(20), "took {took:?}");
}

#[test]
fn unreachable_endpoint_fails_fast() {
    let (err, took) = failing_status(&[
        KEYS[0],
        KEYS[1],
        ("AWS_ENDPOINT_URL_CLOUDFORMATION", "http://127.0.0.1:9"),
    ]);
    assert!(err.contains("can't reach http://127.0.0.1:9"), "{err}");
    assert!(err.contains("AWS_ENDPOINT_URL_CLOUDFORMATION"), "{err}");
    assert!(took < Duration::from_secs(20), "took {took:?}");
}

#[test]
fn silent_endpoint_times_out_in_bounded_time() {
    // Accepts connections (the backlog) and never answers.
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    let (err, took) = failing_status(&[KEYS[0], KEYS[1], ("AWS_ENDPOINT_URL", &url)]);
    assert!(err.contains("ListStackResources timed out"), "{err}");
    assert!(took < Duration::from_secs(17), "took {took:?}");
    drop(listener);
}

/// A sealed service `service` (stage dev, KMS key `arn`) with [`repo`]'s secrets.
fn sealed_repo(service: &str, arn: &str) -> Repo {
    let r = repo(service);
    r.write(
        "serverless.yml",
        &format!(
            "service: {service}\nprovider:\n  name: aws\n  runtime: python3.12\n  environment:\n    PLAIN: x\nfunctions:\n  hello:\n    handler: h.h\ncustom:\n  slsSecrets:\n    delivery: sealed\n    kmsKeyArn: {arn}\n"
        ),
    );
    r
}

/// `seal` run as the plugin runs it at `package` for [`sealed_repo`]'s service: the
/// environment it gives function `hello` (JSON), with its SLS_SECRETS_SEALED_MAC.
fn sealed_env(r: &Repo, service: &str, arn: &str) -> String {
    let shape = r#"{"provider":{"environment":{"PLAIN":[1,false]}},"functions":{"hello":{"environment":null}},"slsSecrets":{"delivery":"sealed","kmsKeyArn":"(the plugin's)"}}"#;
    let mut c = r.cmd(".");
    pass_aws_env(&mut c).args([
        "seal",
        "--stage",
        "dev",
        "--service",
        service,
        "--kms-key",
        arn,
        "--out",
        "out",
    ]);
    let o = common::output_with_stdin(&mut c, shape);
    common::assert_ok(&o);
    let j: serde_json::Value = serde_json::from_str(&stdout(&o)).unwrap();
    let mac = j["functions"]["hello"]["mac"]
        .as_str()
        .expect("seal gives the MAC variable");
    assert!(mac.len() < 1024, "{} bytes", mac.len());
    serde_json::json!({
        "PLAIN": "x",
        "AWS_LAMBDA_EXEC_WRAPPER": "/opt/sls-secrets-wrapper",
        "SLS_SECRETS_SEALED": ".serverless/sls-secrets/sealed/hello.yml",
        "SLS_SECRETS_SEALED_MAC": mac,
    })
    .to_string()
}

#[test]
#[ignore = "needs a moto server with CloudFormation, Lambda and KMS (scripts/test starts one)"]
fn sealed_functions_are_compared_by_their_payloads_mac() {
    let m = moto();
    let service = service_name("se");
    let r = sealed_repo(&service, &m.arn);
    r.set("dev", "UNI", UNI);
    let env = sealed_env(&r, &service, &m.arn);
    create_stack(&m.url, &service, &env);
    let function = format!("{service}-dev-hello");
    all_current(&r, &m.url);

    // A secret changed in git: the function as a whole is stale, with what it should have.
    r.set("dev", "TOKEN", OLD);
    let out = status_prints(
        &r,
        &m.url,
        &["--stage", "dev"],
        1,
        &[
            "(us-east-1): redeploy\n",
            "    stale    API_KEY, TOKEN, UNI\n",
            "which names, its MAC can't tell",
        ],
    );
    assert!(
        !out.contains("SLS_SECRETS_SEALED"),
        "plumbing is not extra: {out}"
    );
    let o = status(&r, &m.url, &["--stage", "dev", "--json"]);
    assert_eq!(o.status.code(), Some(1), "{}", stderr(&o));
    let j: serde_json::Value = serde_json::from_str(&stdout(&o)).unwrap();
    let f = &j["stages"][0]["functions"][0];
    assert_eq!(f["stale"], serde_json::json!(["API_KEY", "TOKEN", "UNI"]));
    assert!(f["note"].as_str().unwrap().contains("redeploy"));
    r.set("dev", "TOKEN", TOKEN);
    status_prints(
        &r,
        &m.url,
        &["--stage", "dev"],
        0,
        &["current  API_KEY, TOKEN, UNI\n"],
    );

    // Another name with the same values: the MAC (values only) is equal, the names are not.
    let renamed = sealed_repo(&service, &m.arn);
    renamed.set("dev", "UNI2", UNI);
    status_prints(
        &renamed,
        &m.url,
        &["--stage", "dev"],
        1,
        &["stale    API_KEY, TOKEN, UNI2\n"],
    );

    // Deployed before the variable existed: stale, and how to make it comparable.
    let j: serde_json::Value = serde_json::from_str(&env).unwrap();
    let mut old = j.clone();
    old.as_object_mut()
        .unwrap()
        .remove("SLS_SECRETS_SEALED_MAC");
    update_env(&m.url, &function, &old.to_string());
    status_prints(
        &r,
        &m.url,
        &["--stage", "dev"],
        1,
        &[
            "    stale    API_KEY, TOKEN, UNI\n",
            "redeploy to make it comparable",
        ],
    );

    // An altered variable: one clear error, exit 2, naming the function and the variable.
    let mac = j["SLS_SECRETS_SEALED_MAC"].as_str().unwrap().to_owned();
    let fields: Vec<&str> = mac.split(' ').collect();
    let later = mac.replace(fields[3], "2001-01-01T00:00:00Z");
    let mut bad_key = fields.clone();
    let flipped = format!("B{}", &fields[2][1..]);
    bad_key[2] = if fields[2].starts_with('B') {
        "AAAA"
    } else {
        &flipped
    };
    for (tampered, says) in [
        ("1 garbage".to_owned(), "not in the format"),
        (later, "can't be decrypted"),
        (bad_key.join(" "), "KMS"),
    ] {
        let mut env = j.clone();
        env["SLS_SECRETS_SEALED_MAC"] = tampered.into();
        update_env(&m.url, &function, &env.to_string());
        let o = status(&r, &m.url, &["--stage", "dev"]);
        assert_eq!(o.status.code(), Some(2), "{}{}", stdout(&o), stderr(&o));
        assert_no_value(&o);
        let err = stderr(&o);
        assert!(
            err.contains(&format!("function `hello` ({function})")),
            "{err}"
        );
        assert!(err.contains(says), "{says}: {err}");
    }
}

/// A moto server of its own that checks every request's SigV4 signature with botocore's
/// signer (`INITIAL_NO_AUTH_ACTION_COUNT`: the first `unsigned` requests, our setup, pass
/// unchecked). Killed on drop.
struct SigningMoto {
    child: std::process::Child,
    url: String,
}

impl Drop for SigningMoto {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn signing_moto(unsigned: u32) -> SigningMoto {
    let server = tool(
        "SLS_SECRETS_TEST_MOTO_SERVER",
        ".venv-moto/bin/moto_server",
        "moto_server",
    );
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let child = std::process::Command::new(server)
        .args(["-H", "127.0.0.1", "-p", &port.to_string()])
        .env("INITIAL_NO_AUTH_ACTION_COUNT", unsigned.to_string())
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let moto = SigningMoto {
        child,
        url: format!("http://127.0.0.1:{port}"),
    };
    let started = Instant::now();
    while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
        assert!(
            started.elapsed() < Duration::from_secs(30),
            "moto_server did not start"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
    moto
}

/// CloudFormation's call goes to a moto that checks signatures; Lambda's to the shared moto,
/// because moto 5.2.5's check rejects every signed Lambda GET, botocore's own included (its
/// signature for our GetFunctionConfiguration, session token and all, was compared by hand
/// with ours: equal).
#[test]
#[ignore = "needs moto_server and a moto server (scripts/test installs and starts them)"]
fn requests_are_signed_as_aws_checks_them() {
    let shared = moto();
    let m = signing_moto(4);
    let iam = |body: &str| {
        let body = format!("{body}&Version=2010-05-08");
        aws(
            &m.url,
            "iam",
            "POST",
            "/",
            "application/x-www-form-urlencoded",
            &body,
        )
    };
    iam("Action=CreateUser&UserName=status");
    let key = iam("Action=CreateAccessKey&UserName=status");
    let policy = form(
        r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"*","Resource":"*"}]}"#,
    );
    iam(&format!(
        "Action=PutUserPolicy&UserName=status&PolicyName=all&PolicyDocument={policy}"
    ));
    let service = service_name("sig");
    let env = format!(r#"{{"API_KEY":"{NEW}","TOKEN":"{TOKEN}"}}"#);
    create_stack(&m.url, &service, &env);
    create_stack(&shared.url, &service, &env);
    let r = repo(&service);
    let (id, secret) = (
        xml_field(&key, "AccessKeyId"),
        xml_field(&key, "SecretAccessKey"),
    );
    let run = |secret: &str| {
        let mut c = r.cmd(".");
        c.env("AWS_ENDPOINT_URL_CLOUDFORMATION", &m.url)
            .env("AWS_ENDPOINT_URL_LAMBDA", &shared.url)
            .env("AWS_ACCESS_KEY_ID", &id)
            .env("AWS_SECRET_ACCESS_KEY", secret)
            .env("AWS_EC2_METADATA_DISABLED", "true")
            .args(["status", "--stage", "dev"]);
        c.output().unwrap()
    };
    let o = run(&secret);
    assert_eq!(o.status.code(), Some(0), "{}{}", stdout(&o), stderr(&o));
    assert!(
        stdout(&o).contains("    current  API_KEY, TOKEN\n"),
        "{}",
        stdout(&o)
    );
    // The control: the same request with another secret key is refused.
    let o = run(&format!("{secret}x"));
    assert_eq!(o.status.code(), Some(2), "{}", stdout(&o));
    assert!(
        stderr(&o).contains("SignatureDoesNotMatch"),
        "{}",
        stderr(&o)
    );
    assert!(!stderr(&o).contains(&secret), "{}", stderr(&o));
}
