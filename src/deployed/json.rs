//! Lambda's REST-JSON answers, read with aws-smithy-json (already built for the SDK), the
//! SDK's own tokenizer: every JSON escape, surrogate pairs included (Python's `json.dumps`,
//! moto's, writes every non-ASCII character as `\uXXXX`). Values go straight into zeroized
//! strings; parse errors are not passed on (their text could quote a value).

use aws_smithy_json::deserialize::token::skip_value;
use aws_smithy_json::deserialize::{Token, json_token_iter};

use crate::yaml::Text;

/// `Environment.Variables` of a GetFunctionConfiguration answer, as (name, value); none when
/// the function has no environment. `None`: not that shape.
pub fn env_vars(body: &[u8]) -> Option<Vec<(String, Text)>> {
    let mut tokens = json_token_iter(body);
    let mut vars = Vec::new();
    let Some(Ok(Token::StartObject { .. })) = tokens.next() else {
        return None;
    };
    loop {
        match tokens.next()?.ok()? {
            Token::EndObject { .. } => return Some(vars),
            Token::ObjectKey { key, .. } if key.as_escaped_str() == "Environment" => {
                match tokens.next()?.ok()? {
                    Token::ValueNull { .. } => {}
                    Token::StartObject { .. } => environment(&mut tokens, &mut vars)?,
                    _ => return None,
                }
            }
            Token::ObjectKey { .. } => skip_value(&mut tokens).ok()?,
            _ => return None,
        }
    }
}

/// The inside of `Environment` (its `{` read): `Variables`' strings into `vars`.
fn environment<'a>(
    tokens: &mut impl Iterator<
        Item = Result<Token<'a>, aws_smithy_json::deserialize::error::DeserializeError>,
    >,
    vars: &mut Vec<(String, Text)>,
) -> Option<()> {
    loop {
        match tokens.next()?.ok()? {
            Token::EndObject { .. } => return Some(()),
            Token::ObjectKey { key, .. } if key.as_escaped_str() == "Variables" => {
                match tokens.next()?.ok()? {
                    Token::ValueNull { .. } => {}
                    Token::StartObject { .. } => loop {
                        match tokens.next()?.ok()? {
                            Token::EndObject { .. } => break,
                            Token::ObjectKey { key, .. } => {
                                let name = key.to_unescaped().ok()?.into_owned();
                                let Token::ValueString { value, .. } = tokens.next()?.ok()? else {
                                    return None;
                                };
                                vars.push((
                                    name,
                                    Text::new(value.to_unescaped().ok()?.into_owned()),
                                ));
                            }
                            _ => return None,
                        }
                    },
                    _ => return None,
                }
            }
            Token::ObjectKey { .. } => skip_value(tokens).ok()?,
            _ => return None,
        }
    }
}

/// A top-level string field of a JSON error answer (`__type`, `message`, …); empty when absent.
pub fn error_field(body: &[u8], field: &str) -> String {
    let mut tokens = json_token_iter(body);
    let Some(Ok(Token::StartObject { .. })) = tokens.next() else {
        return String::new();
    };
    while let Some(Ok(token)) = tokens.next() {
        match token {
            Token::ObjectKey { key, .. } if key.as_escaped_str() == field => {
                if let Some(Ok(Token::ValueString { value, .. })) = tokens.next() {
                    return value
                        .to_unescaped()
                        .map(|v| v.into_owned())
                        .unwrap_or_default();
                }
                return String::new();
            }
            Token::ObjectKey { .. } => {
                if skip_value(&mut tokens).is_err() {
                    break;
                }
            }
            _ => break,
        }
    }
    String::new()
}
