//! The two read-only AWS calls `status` makes, signed (SigV4) and sent with crates the KMS
//! client already builds (aws-config, aws-sigv4, hyper, rustls, aws-smithy-xml/-json) instead of
//! aws-sdk-cloudformation and aws-sdk-lambda, whose build cost is in BENCHMARKS.md:
//!
//! - CloudFormation `ListStackResources` (Query API: form POST, XML answer), every page;
//! - Lambda `GetFunctionConfiguration` (REST-JSON `GET /2015-03-31/functions/NAME/configuration`).
//!
//! Credentials and region come from the KMS client's chain (`kms::sdk_config`), resolved once.
//! Bounded as KMS calls: connect 2 s, each attempt 5 s, 2 attempts, 15 s per call.
//! `AWS_ENDPOINT_URL_CLOUDFORMATION` / `AWS_ENDPOINT_URL_LAMBDA` / `AWS_ENDPOINT_URL` are
//! honoured. A function's environment values are held zeroized and never shown: errors carry
//! codes, statuses and AWS's messages about the request, never a response body that holds them.

use std::time::{Duration, SystemTime};

use aws_credential_types::Credentials;
use aws_credential_types::provider::ProvideCredentials;
use aws_sigv4::http_request::{SignableBody, SignableRequest, SigningSettings, sign};
use aws_smithy_runtime_api::client::identity::Identity;
use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper_util::client::legacy::Client as HyperClient;
use hyper_util::client::legacy::connect::HttpConnector;
use zeroize::Zeroizing;

use super::error::DeployedError;
pub use super::xml::StackResource;
use crate::keys::kms::{self, ATTEMPT_TIMEOUT, CALL_DEADLINE, CONNECT_TIMEOUT, MAX_ATTEMPTS};
use crate::yaml::Text;

type Https = hyper_rustls::HttpsConnector<HttpConnector>;
/// An HTTP status and the body (zeroized: a configuration holds values).
type Answer = (u16, Zeroizing<Vec<u8>>);

/// A response body is at most this big (a function's configuration is a few KB; a page of
/// stack resources at most 100 entries).
const MAX_BODY: usize = 4 << 20;

/// One AWS account and region, as the default credential chain gives them.
pub struct Aws {
    rt: tokio::runtime::Runtime,
    http: HyperClient<Https, Full<Bytes>>,
    region: String,
    creds: Credentials,
    /// Who we are, for AccessDenied messages (the access key ID masked).
    identity: String,
}

/// A deployed function's environment. No `Debug`: it holds values.
pub struct FunctionEnv {
    pub vars: Vec<(String, Text)>,
}

impl Aws {
    /// Loads the config for `region` (and `profile`) and resolves credentials once.
    pub fn new(region: &str, profile: &str) -> Result<Aws, DeployedError> {
        if let Some(var) = kms::empty_endpoint(&[
            "AWS_ENDPOINT_URL_CLOUDFORMATION",
            "AWS_ENDPOINT_URL_LAMBDA",
            "AWS_ENDPOINT_URL",
        ]) {
            return Err(DeployedError::EmptyEndpoint { var });
        }
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_io()
            .enable_time()
            .build()
            .map_err(|e| DeployedError::Runtime(e.to_string()))?;
        let via = kms::profile_via(profile);
        let creds = rt
            .block_on(async {
                tokio::time::timeout(CALL_DEADLINE, credentials(region, profile, &via)).await
            })
            .map_err(|_| DeployedError::NoCredentials {
                via: via.clone(),
                chain: format!(
                    "the credential chain did not answer in {}s",
                    CALL_DEADLINE.as_secs()
                ),
            })??;
        let identity = format!(
            "credentials{via}, access key {}",
            kms::mask_key_id(creds.access_key_id())
        );
        let mut connector = HttpConnector::new();
        connector.set_connect_timeout(Some(CONNECT_TIMEOUT));
        connector.enforce_http(false);
        let https = hyper_rustls::HttpsConnectorBuilder::new()
            .with_provider_and_native_roots(rustls::crypto::aws_lc_rs::default_provider())
            .map_err(|e| DeployedError::Runtime(format!("TLS roots: {e}")))?
            .https_or_http()
            .enable_http1()
            .wrap_connector(connector);
        let http = rt.block_on(async {
            HyperClient::builder(hyper_util::rt::TokioExecutor::new()).build(https)
        });
        Ok(Aws {
            rt,
            http,
            region: region.to_owned(),
            creds,
            identity,
        })
    }

    pub fn region(&self) -> &str {
        &self.region
    }

    /// Every resource of `stack` (all pages). A stack that does not exist is
    /// [`DeployedError::NoStack`].
    pub fn list_stack_resources(&self, stack: &str) -> Result<Vec<StackResource>, DeployedError> {
        let endpoint = endpoint("CLOUDFORMATION", "cloudformation", &self.region);
        let mut out = Vec::new();
        let mut token: Option<String> = None;
        loop {
            let mut form = format!(
                "Action=ListStackResources&Version=2010-05-15&StackName={}",
                form_encode(stack)
            );
            if let Some(t) = &token {
                form.push_str(&format!("&NextToken={}", form_encode(t)));
            }
            let req = Request {
                op: "ListStackResources",
                service: "cloudformation",
                method: "POST",
                url: format!("{}/", endpoint.trim_end_matches('/')),
                body: form.into_bytes(),
            };
            let (status, body) = self.send(&req, &endpoint)?;
            let text = String::from_utf8_lossy(&body);
            if status != 200 {
                return Err(query_error(
                    stack,
                    &self.region,
                    status,
                    &text,
                    &endpoint,
                    &self.identity,
                ));
            }
            let (page, next) =
                super::xml::stack_resources(&text).map_err(|why| DeployedError::BadResponse {
                    op: "ListStackResources",
                    status,
                    endpoint: endpoint.clone(),
                    why,
                })?;
            out.extend(page);
            match next {
                Some(t) if !t.is_empty() && out.len() < 100_000 => token = Some(t),
                _ => return Ok(out),
            }
        }
    }

    /// The environment variables of function `name` (its name or ARN).
    pub fn function_env(&self, name: &str) -> Result<FunctionEnv, DeployedError> {
        let endpoint = endpoint("LAMBDA", "lambda", &self.region);
        let req = Request {
            op: "GetFunctionConfiguration",
            service: "lambda",
            method: "GET",
            url: format!(
                "{}/2015-03-31/functions/{}/configuration",
                endpoint.trim_end_matches('/'),
                path_encode(name)
            ),
            body: Vec::new(),
        };
        let (status, body) = self.send(&req, &endpoint)?;
        if status != 200 {
            return Err(rest_error(name, status, &body, &endpoint, &self.identity));
        }
        env_from_json(&body).ok_or_else(|| DeployedError::BadResponse {
            op: "GetFunctionConfiguration",
            status,
            endpoint,
            why: "not a function configuration (JSON with Environment.Variables)".into(),
        })
    }

    /// Signs and sends `req`: up to [`MAX_ATTEMPTS`] attempts of [`ATTEMPT_TIMEOUT`] each
    /// (retrying a timeout, a connection failure, a 5xx or throttling, the latter after
    /// [`THROTTLE_PAUSE`]), within [`CALL_DEADLINE`].
    fn send(&self, req: &Request, endpoint: &str) -> Result<Answer, DeployedError> {
        let call = async {
            let mut last: Option<Result<Answer, DeployedError>> = None;
            for _ in 0..MAX_ATTEMPTS {
                if matches!(&last, Some(Ok((status, body))) if throttled(*status, body)) {
                    tokio::time::sleep(THROTTLE_PAUSE).await;
                }
                let http_req = self.signed(req)?;
                match tokio::time::timeout(ATTEMPT_TIMEOUT, self.attempt(http_req)).await {
                    Ok(Ok((status, body))) if status < 500 && !throttled(status, &body) => {
                        return Ok((status, body));
                    }
                    Ok(Ok((status, body))) => last = Some(Ok((status, body))),
                    Ok(Err(why)) => {
                        last = Some(Err(DeployedError::Unreachable {
                            endpoint: endpoint.to_owned(),
                            why,
                        }))
                    }
                    Err(_) => last = Some(Err(timeout(req.op, endpoint, ATTEMPT_TIMEOUT))),
                }
            }
            last.unwrap_or_else(|| Err(timeout(req.op, endpoint, ATTEMPT_TIMEOUT)))
        };
        self.rt
            .block_on(async { tokio::time::timeout(CALL_DEADLINE, call).await })
            .unwrap_or_else(|_| Err(timeout(req.op, endpoint, CALL_DEADLINE)))
    }

    async fn attempt(&self, req: http::Request<Full<Bytes>>) -> Result<Answer, String> {
        let resp = self
            .http
            .request(req)
            .await
            .map_err(|e| kms::error_chain(&e))?;
        let status = resp.status().as_u16();
        let limited = http_body_util::Limited::new(resp.into_body(), MAX_BODY);
        let body = limited.collect().await.map_err(|e| e.to_string())?;
        Ok((status, Zeroizing::new(body.to_bytes().to_vec())))
    }

    fn signed(&self, req: &Request) -> Result<http::Request<Full<Bytes>>, DeployedError> {
        let content_type = "application/x-www-form-urlencoded; charset=utf-8";
        let mut builder = http::Request::builder().method(req.method).uri(&req.url);
        if req.method == "POST" {
            builder = builder.header("content-type", content_type);
        }
        let mut http_req = builder
            .body(Full::new(Bytes::from(req.body.clone())))
            .map_err(|e| DeployedError::Runtime(format!("{}: {e}", req.op)))?;
        let identity: Identity = self.creds.clone().into();
        let params = aws_sigv4::sign::v4::SigningParams::builder()
            .identity(&identity)
            .region(&self.region)
            .name(req.service)
            .time(SystemTime::now())
            .settings(SigningSettings::default())
            .build()
            .map_err(|e| DeployedError::Runtime(format!("signing {}: {e}", req.op)))?
            .into();
        let headers: Vec<(&str, &str)> = http_req
            .headers()
            .iter()
            .filter_map(|(k, v)| Some((k.as_str(), v.to_str().ok()?)))
            .collect();
        let signable = SignableRequest::new(
            req.method,
            &req.url,
            headers.into_iter(),
            SignableBody::Bytes(&req.body),
        )
        .map_err(|e| DeployedError::Runtime(format!("signing {}: {e}", req.op)))?;
        let (instructions, _) = sign(signable, &params)
            .map_err(|e| DeployedError::Runtime(format!("signing {}: {e}", req.op)))?
            .into_parts();
        instructions.apply_to_request_http1x(&mut http_req);
        Ok(http_req)
    }
}

/// The wait before retrying a throttled call (a stack of many functions reads one
/// configuration after another; Lambda's control plane limits the rate per account).
const THROTTLE_PAUSE: Duration = Duration::from_millis(1500);

/// Lambda's 429 (`TooManyRequestsException`), CloudFormation's 400 `Throttling`.
fn throttled(status: u16, body: &[u8]) -> bool {
    status == 429
        || (status == 400
            && body.len() < 4096
            && String::from_utf8_lossy(body).contains("<Code>Throttling</Code>"))
}

struct Request {
    op: &'static str,
    service: &'static str,
    method: &'static str,
    url: String,
    body: Vec<u8>,
}

async fn credentials(region: &str, profile: &str, via: &str) -> Result<Credentials, DeployedError> {
    let conf = kms::sdk_config(region, profile).await;
    let provider = conf
        .credentials_provider()
        .ok_or_else(|| DeployedError::NoCredentials {
            via: via.to_owned(),
            chain: "no credentials provider is configured".into(),
        })?;
    provider
        .provide_credentials()
        .await
        .map_err(|e| DeployedError::NoCredentials {
            via: via.to_owned(),
            chain: kms::compact_credentials_error(&kms::error_chain(&e)),
        })
}

/// The service's endpoint: `AWS_ENDPOINT_URL_<SERVICE>`, else `AWS_ENDPOINT_URL`, else AWS's.
pub fn endpoint(var_suffix: &str, host: &str, region: &str) -> String {
    let var = |k: &str| std::env::var(k).ok().filter(|v| !v.is_empty());
    var(&format!("AWS_ENDPOINT_URL_{var_suffix}"))
        .or_else(|| var("AWS_ENDPOINT_URL"))
        .unwrap_or_else(|| format!("https://{host}.{region}.amazonaws.com"))
}

fn timeout(op: &'static str, endpoint: &str, after: Duration) -> DeployedError {
    DeployedError::Timeout {
        op,
        endpoint: endpoint.to_owned(),
        secs: after.as_secs(),
    }
}

/// `application/x-www-form-urlencoded` value: unreserved characters kept, the rest %XX.
fn form_encode(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || b"-_.~".contains(&b) {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

/// One path segment, percent-encoded (a function ARN holds `:`).
fn path_encode(s: &str) -> String {
    form_encode(s)
}

/// `Environment.Variables` of a GetFunctionConfiguration answer ([`super::json::env_vars`]).
fn env_from_json(body: &[u8]) -> Option<FunctionEnv> {
    super::json::env_vars(body).map(|vars| FunctionEnv { vars })
}

/// A Query API error (`<ErrorResponse><Error><Code>…`): a missing stack, denied, or other.
fn query_error(
    stack: &str,
    region: &str,
    status: u16,
    body: &str,
    endpoint: &str,
    identity: &str,
) -> DeployedError {
    let (code, message) = super::xml::error(body).unwrap_or_default();
    let message = kms::short(message.trim());
    match code.as_str() {
        "ValidationError" if message.contains("does not exist") => DeployedError::NoStack {
            stack: stack.to_owned(),
            region: region.to_owned(),
        },
        "AccessDenied" | "AccessDeniedException" => DeployedError::AccessDenied {
            op: "cloudformation:ListStackResources",
            identity: identity.to_owned(),
            why: message,
        },
        "" => DeployedError::BadResponse {
            op: "ListStackResources",
            status,
            endpoint: endpoint.to_owned(),
            why: "not a CloudFormation answer".into(),
        },
        _ => service_error("ListStackResources", &code, &message, identity),
    }
}

/// A REST-JSON error (`{"Type":…,"message":…}` with `x-amzn-ErrorType`); the body is read
/// for its message only when it is small and holds no configuration.
fn rest_error(
    name: &str,
    status: u16,
    body: &[u8],
    endpoint: &str,
    identity: &str,
) -> DeployedError {
    let field = |key: &str| kms::short(&super::json::error_field(body, key));
    let xml = std::str::from_utf8(body)
        .ok()
        .filter(|t| t.trim_start().starts_with('<'))
        .and_then(super::xml::error);
    let (code, message) = xml.unwrap_or_else(|| {
        let code = [field("__type"), field("Type"), field("code")]
            .into_iter()
            .find(|c| !c.is_empty() && c != "User")
            .unwrap_or_default();
        let message = [field("message"), field("Message")]
            .into_iter()
            .find(|m| !m.is_empty())
            .unwrap_or_default();
        (code, message)
    });
    let code = code.rsplit('#').next().unwrap_or("").to_owned();
    if is_credentials_code(&code) {
        return service_error("GetFunctionConfiguration", &code, &message, identity);
    }
    match (status, code.as_str()) {
        (404, _) | (_, "ResourceNotFoundException") => DeployedError::NoFunction {
            name: name.to_owned(),
        },
        (_, "AccessDeniedException") | (403, _) => DeployedError::AccessDenied {
            op: "lambda:GetFunctionConfiguration",
            identity: identity.to_owned(),
            why: if message.is_empty() { code } else { message },
        },
        (_, "") => DeployedError::BadResponse {
            op: "GetFunctionConfiguration",
            status,
            endpoint: endpoint.to_owned(),
            why: "not a Lambda answer".into(),
        },
        _ => service_error("GetFunctionConfiguration", &code, &message, identity),
    }
}

/// Codes that say the credentials (or the signature made with them) were refused.
fn is_credentials_code(code: &str) -> bool {
    matches!(
        code,
        "UnrecognizedClientException"
            | "InvalidClientTokenId"
            | "ExpiredToken"
            | "ExpiredTokenException"
            | "SignatureDoesNotMatch"
            | "InvalidSignatureException"
    )
}

fn service_error(op: &'static str, code: &str, message: &str, identity: &str) -> DeployedError {
    match code {
        _ if is_credentials_code(code) => DeployedError::NoCredentials {
            via: String::new(),
            chain: format!("{code}: {message} ({identity})"),
        },
        _ => DeployedError::Service {
            op,
            why: if message.is_empty() {
                code.to_owned()
            } else {
                format!("{code}: {message}")
            },
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn throttling_is_told() {
        assert!(throttled(429, b"{}"));
        assert!(throttled(
            400,
            b"<ErrorResponse><Error><Code>Throttling</Code></Error></ErrorResponse>"
        ));
        assert!(!throttled(
            400,
            b"<ErrorResponse><Error><Code>ValidationError</Code></Error></ErrorResponse>"
        ));
        assert!(!throttled(200, b""));
    }

    #[test]
    fn form_encoding() {
        assert_eq!(form_encode("svc-dev"), "svc-dev");
        assert_eq!(form_encode("a b/c:d"), "a%20b%2Fc%3Ad");
    }

    #[test]
    fn env_json() {
        let env = env_from_json(
            br#"{"FunctionName":"f","Environment":{"Variables":{"A":"1","B":"x y"}}}"#,
        )
        .unwrap();
        let names: Vec<&str> = env.vars.iter().map(|(k, _)| k.as_str()).collect();
        assert_eq!(names, ["A", "B"]);
        assert_eq!(env.vars[1].1.as_str(), "x y");
        assert!(
            env_from_json(br#"{"FunctionName":"f"}"#)
                .unwrap()
                .vars
                .is_empty()
        );
        assert!(env_from_json(b"<html>").is_none());
        // Python's json.dumps (moto) escapes every non-ASCII character, astral ones as pairs.
        let env = env_from_json(
            br#"{"Environment":{"Variables":{"U":"\u00fcn\u00efc\u00f6d\u00e9 \u2713 \ud83d\ude00","Q":"a\"b\\c\/d\n\t"}}}"#,
        )
        .unwrap();
        assert_eq!(env.vars[0].1.as_str(), "ünïcödé ✓ 😀");
        assert_eq!(env.vars[1].1.as_str(), "a\"b\\c/d\n\t");
    }

    #[test]
    fn rest_errors() {
        let e = rest_error(
            "f",
            404,
            br#"{"Type":"User","Message":"Function not found: arn"}"#,
            "e",
            "id",
        );
        assert!(matches!(e, DeployedError::NoFunction { .. }), "{e}");
        let e = rest_error("f", 502, b"<html>bad gateway</html>", "http://proxy", "id");
        assert!(e.to_string().contains("HTTP 502 from http://proxy"), "{e}");
    }
}
