//! The CloudFormation Query API's XML: a `ListStackResources` page and an error, read with
//! aws-smithy-xml (already built for STS).

use aws_smithy_xml::decode::{Document, ScopedDecoder, try_data};

/// One resource of a stack.
#[derive(Debug, Clone, PartialEq)]
pub struct StackResource {
    pub logical_id: String,
    pub physical_id: String,
    pub resource_type: String,
}

/// One `ListStackResources` page: its resources and the `NextToken`.
pub fn stack_resources(body: &str) -> Result<(Vec<StackResource>, Option<String>), String> {
    let mut doc = Document::new(body);
    let mut root = doc.root_element().map_err(|e| e.to_string())?;
    if !root.start_el().matches("ListStackResourcesResponse") {
        return Err(format!("unexpected <{}>", root.start_el().local()));
    }
    let mut out = Vec::new();
    let mut next = None;
    while let Some(mut result) = root.next_tag() {
        if !result.start_el().matches("ListStackResourcesResult") {
            continue;
        }
        while let Some(mut tag) = result.next_tag() {
            if tag.start_el().matches("StackResourceSummaries") {
                while let Some(mut member) = tag.next_tag() {
                    out.push(summary(&mut member)?);
                }
            } else if tag.start_el().matches("NextToken") {
                next = Some(text(&mut tag)?);
            }
        }
    }
    Ok((out, next))
}

fn summary(member: &mut ScopedDecoder<'_, '_>) -> Result<StackResource, String> {
    let mut r = StackResource {
        logical_id: String::new(),
        physical_id: String::new(),
        resource_type: String::new(),
    };
    while let Some(mut field) = member.next_tag() {
        let slot = match field.start_el().local() {
            "LogicalResourceId" => &mut r.logical_id,
            "PhysicalResourceId" => &mut r.physical_id,
            "ResourceType" => &mut r.resource_type,
            _ => continue,
        };
        *slot = text(&mut field)?;
    }
    Ok(r)
}

fn text(tag: &mut ScopedDecoder<'_, '_>) -> Result<String, String> {
    try_data(tag)
        .map(|c| c.into_owned())
        .map_err(|e| e.to_string())
}

/// `<ErrorResponse><Error><Code>…</Code><Message>…</Message></Error>` (CloudFormation), also
/// with `<Errors>` around the `<Error>` (what moto's signature check answers): (code, message).
pub fn error(body: &str) -> Option<(String, String)> {
    let mut doc = Document::new(body);
    let mut root = doc.root_element().ok()?;
    let (mut code, mut message) = (String::new(), String::new());
    while let Some(mut tag) = root.next_tag() {
        if tag.start_el().matches("Errors") {
            while let Some(mut err) = tag.next_tag() {
                error_fields(&mut err, &mut code, &mut message)?;
            }
        } else {
            error_fields(&mut tag, &mut code, &mut message)?;
        }
    }
    (!code.is_empty()).then_some((code, message))
}

fn error_fields(
    err: &mut ScopedDecoder<'_, '_>,
    code: &mut String,
    message: &mut String,
) -> Option<()> {
    if !err.start_el().matches("Error") {
        return Some(());
    }
    while let Some(mut field) = err.next_tag() {
        match field.start_el().local() {
            "Code" => *code = text(&mut field).ok()?,
            "Message" => *message = text(&mut field).ok()?,
            _ => {}
        }
    }
    Some(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn page() {
        let body = r#"<ListStackResourcesResponse xmlns="http://cloudformation.amazonaws.com/doc/2010-05-15/">
  <ListStackResourcesResult><StackResourceSummaries>
    <member><LogicalResourceId>HelloLambdaFunction</LogicalResourceId><PhysicalResourceId>svc-dev-hello</PhysicalResourceId><ResourceType>AWS::Lambda::Function</ResourceType><ResourceStatus>CREATE_COMPLETE</ResourceStatus></member>
    <member><LogicalResourceId>Role</LogicalResourceId><PhysicalResourceId>r</PhysicalResourceId><ResourceType>AWS::IAM::Role</ResourceType></member>
  </StackResourceSummaries><NextToken>abc</NextToken></ListStackResourcesResult>
  <ResponseMetadata><RequestId>x</RequestId></ResponseMetadata></ListStackResourcesResponse>"#;
        let (rs, next) = stack_resources(body).unwrap();
        assert_eq!(rs.len(), 2);
        assert_eq!(rs[0].logical_id, "HelloLambdaFunction");
        assert_eq!(rs[0].physical_id, "svc-dev-hello");
        assert_eq!(rs[0].resource_type, "AWS::Lambda::Function");
        assert_eq!(next.as_deref(), Some("abc"));
    }

    #[test]
    fn errors() {
        let body = "<ErrorResponse><Error><Type>Sender</Type><Code>ValidationError</Code><Message>Stack with id x does not exist</Message></Error></ErrorResponse>";
        assert_eq!(
            error(body),
            Some((
                "ValidationError".into(),
                "Stack with id x does not exist".into()
            ))
        );
        assert_eq!(error("<html/>"), None);
        let wrapped = "<ErrorResponse><Errors><Error><Code>SignatureDoesNotMatch</Code><Message>m</Message></Error></Errors></ErrorResponse>";
        assert_eq!(
            error(wrapped),
            Some(("SignatureDoesNotMatch".into(), "m".into()))
        );
    }
}
