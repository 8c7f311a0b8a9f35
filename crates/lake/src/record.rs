//! CloudTrail record types, borrowed from the input buffer.
//!
//! Every struct keeps the keys it does not model in `unknown`, verbatim, so that no part of a
//! record is lost: the batch builder folds them into the `extra` column. Field names follow the
//! CloudTrail record reference; a value of the wrong JSON type is an error (the object is not
//! CloudTrail as we know it), except booleans, which SIEM exports often stringify.

use std::borrow::Cow;
use std::fmt;

use serde::de::{self, Deserialize, Deserializer, MapAccess, Visitor};
use serde_json::value::RawValue;

/// A JSON string, borrowed when it has no escapes.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Text<'a>(pub Cow<'a, str>);

impl<'a> Text<'a> {
    /// The string.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl<'de> Deserialize<'de> for Text<'de> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = Text<'de>;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("a string")
            }
            fn visit_borrowed_str<E: de::Error>(self, v: &'de str) -> Result<Self::Value, E> {
                Ok(Text(Cow::Borrowed(v)))
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<Self::Value, E> {
                Ok(Text(Cow::Owned(v.to_owned())))
            }
            fn visit_string<E: de::Error>(self, v: String) -> Result<Self::Value, E> {
                Ok(Text(Cow::Owned(v)))
            }
        }
        d.deserialize_str(V)
    }
}

/// A boolean that may also arrive as the string `"true"` / `"false"` (CloudTrail itself writes
/// `mfaAuthenticated` as a string; SIEM exports stringify the others).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Flag(pub bool);

impl<'de> Deserialize<'de> for Flag {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl Visitor<'_> for V {
            type Value = Flag;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("a boolean or \"true\"/\"false\"")
            }
            fn visit_bool<E: de::Error>(self, v: bool) -> Result<Flag, E> {
                Ok(Flag(v))
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<Flag, E> {
                if v.eq_ignore_ascii_case("true") {
                    Ok(Flag(true))
                } else if v.eq_ignore_ascii_case("false") {
                    Ok(Flag(false))
                } else {
                    Err(E::invalid_value(de::Unexpected::Str(v), &self))
                }
            }
        }
        d.deserialize_any(V)
    }
}

/// A JSON number that some exports write as a string (`"3600"`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Int(pub i64);

impl<'de> Deserialize<'de> for Int {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl Visitor<'_> for V {
            type Value = Int;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("an integer")
            }
            fn visit_i64<E: de::Error>(self, v: i64) -> Result<Int, E> {
                Ok(Int(v))
            }
            fn visit_u64<E: de::Error>(self, v: u64) -> Result<Int, E> {
                i64::try_from(v)
                    .map(Int)
                    .map_err(|_| E::invalid_value(de::Unexpected::Unsigned(v), &self))
            }
            fn visit_f64<E: de::Error>(self, v: f64) -> Result<Int, E> {
                if v.fract() == 0.0 && v.abs() < 9.0e15 {
                    Ok(Int(v as i64))
                } else {
                    Err(E::invalid_value(de::Unexpected::Float(v), &self))
                }
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<Int, E> {
                v.trim()
                    .parse()
                    .map(Int)
                    .map_err(|_| E::invalid_value(de::Unexpected::Str(v), &self))
            }
        }
        d.deserialize_any(V)
    }
}

/// A key of a JSON object, borrowed when possible.
struct Key<'a>(Cow<'a, str>);

impl<'de> Deserialize<'de> for Key<'de> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        Text::deserialize(d).map(|t| Key(t.0))
    }
}

/// Keys a struct does not model, with their raw JSON values.
pub type Unknown<'a> = Vec<(Cow<'a, str>, &'a RawValue)>;

/// Declares a borrowed record struct whose `Deserialize` fills known keys and keeps the rest.
macro_rules! record_struct {
    (
        $(#[$meta:meta])*
        pub struct $name:ident {
            $( $(#[$fmeta:meta])* $field:ident : $ty:ty = $key:literal, )*
        }
    ) => {
        $(#[$meta])*
        #[derive(Debug, Default)]
        pub struct $name<'a> {
            $( $(#[$fmeta])* #[doc = concat!("`", $key, "`")] pub $field: Option<$ty>, )*
            /// Keys not modeled above, verbatim.
            pub unknown: Unknown<'a>,
        }

        impl<'de> Deserialize<'de> for $name<'de> {
            fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
                struct V;
                impl<'de> Visitor<'de> for V {
                    type Value = $name<'de>;
                    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                        f.write_str(concat!("a JSON object (", stringify!($name), ")"))
                    }
                    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
                        let mut out = $name::default();
                        while let Some(Key(key)) = map.next_key()? {
                            $name::fill(&mut out, key, &mut map)?;
                        }
                        Ok(out)
                    }
                }
                d.deserialize_map(V)
            }
        }

        impl<'de> $name<'de> {
            /// Reads the value of `key` from `map` into the matching field (or `unknown`).
            #[allow(dead_code)]
            pub(crate) fn fill<A: MapAccess<'de>>(
                out: &mut Self,
                key: Cow<'de, str>,
                map: &mut A,
            ) -> Result<(), A::Error> {
                match key.as_ref() {
                    $( $key => {
                        out.$field = map.next_value().map_err(|e| {
                            de::Error::custom(format_args!("field {}: {}", $key, e))
                        })?;
                    } )*
                    _ => out.unknown.push((key, map.next_value()?)),
                }
                Ok(())
            }

            /// JSON keys this struct models.
            #[allow(dead_code)]
            pub const KEYS: &'static [&'static str] = &[$($key),*];
        }
    };
}

record_struct! {
    /// One CloudTrail record.
    pub struct Record {
        event_version: Text<'a> = "eventVersion",
        user_identity: UserIdentity<'a> = "userIdentity",
        event_time: Text<'a> = "eventTime",
        event_source: Text<'a> = "eventSource",
        event_name: Text<'a> = "eventName",
        aws_region: Text<'a> = "awsRegion",
        source_ip: Text<'a> = "sourceIPAddress",
        user_agent: Text<'a> = "userAgent",
        error_code: Text<'a> = "errorCode",
        error_message: Text<'a> = "errorMessage",
        request_parameters: &'a RawValue = "requestParameters",
        response_elements: &'a RawValue = "responseElements",
        additional_event_data: &'a RawValue = "additionalEventData",
        service_event_details: &'a RawValue = "serviceEventDetails",
        request_id: Text<'a> = "requestID",
        event_id: Text<'a> = "eventID",
        event_type: Text<'a> = "eventType",
        event_category: Text<'a> = "eventCategory",
        read_only: Flag = "readOnly",
        management_event: Flag = "managementEvent",
        resources: &'a RawValue = "resources",
        recipient_account_id: Text<'a> = "recipientAccountId",
        shared_event_id: Text<'a> = "sharedEventID",
        vpc_endpoint_id: Text<'a> = "vpcEndpointId",
        tls_details: TlsDetails<'a> = "tlsDetails",
        session_credential_from_console: Flag = "sessionCredentialFromConsole",
    }
}

record_struct! {
    /// `userIdentity`.
    pub struct UserIdentity {
        identity_type: Text<'a> = "type",
        principal_id: Text<'a> = "principalId",
        arn: Text<'a> = "arn",
        account_id: Text<'a> = "accountId",
        access_key_id: Text<'a> = "accessKeyId",
        user_name: Text<'a> = "userName",
        invoked_by: Text<'a> = "invokedBy",
        identity_provider: Text<'a> = "identityProvider",
        session_context: SessionContext<'a> = "sessionContext",
        invoked_by_delegate: Delegate<'a> = "invokedByDelegate",
    }
}

record_struct! {
    /// `userIdentity.sessionContext`.
    pub struct SessionContext {
        session_issuer: SessionIssuer<'a> = "sessionIssuer",
        attributes: Attributes<'a> = "attributes",
        source_identity: Text<'a> = "sourceIdentity",
    }
}

record_struct! {
    /// `userIdentity.sessionContext.sessionIssuer`.
    pub struct SessionIssuer {
        issuer_type: Text<'a> = "type",
        principal_id: Text<'a> = "principalId",
        arn: Text<'a> = "arn",
        account_id: Text<'a> = "accountId",
        user_name: Text<'a> = "userName",
    }
}

record_struct! {
    /// `userIdentity.sessionContext.attributes`.
    pub struct Attributes {
        creation_date: Text<'a> = "creationDate",
        mfa_authenticated: Flag = "mfaAuthenticated",
    }
}

record_struct! {
    /// `userIdentity.invokedByDelegate`: a product provider acting with delegated access.
    pub struct Delegate {
        account_id: Text<'a> = "accountId",
    }
}

record_struct! {
    /// `tlsDetails`.
    pub struct TlsDetails {
        tls_version: Text<'a> = "tlsVersion",
        cipher_suite: Text<'a> = "cipherSuite",
        client_provided_host_header: Text<'a> = "clientProvidedHostHeader",
    }
}

record_struct! {
    /// One element of `resources`.
    pub struct Resource {
        arn: Text<'a> = "ARN",
        account_id: Text<'a> = "accountId",
        resource_type: Text<'a> = "type",
    }
}

record_struct! {
    /// `requestParameters` of AssumeRole, AssumeRoleWithSAML and AssumeRoleWithWebIdentity.
    pub struct AssumeRoleRequest {
        role_arn: Text<'a> = "roleArn",
        role_session_name: Text<'a> = "roleSessionName",
        external_id: Text<'a> = "externalId",
        source_identity: Text<'a> = "sourceIdentity",
        duration_seconds: Int = "durationSeconds",
        principal_arn: Text<'a> = "principalArn",
    }
}

record_struct! {
    /// `responseElements` of the AssumeRole* family.
    pub struct AssumeRoleResponse {
        credentials: Credentials<'a> = "credentials",
        assumed_role_user: AssumedRoleUser<'a> = "assumedRoleUser",
        source_identity: Text<'a> = "sourceIdentity",
        subject: Text<'a> = "subject",
        provider: Text<'a> = "provider",
        issuer: Text<'a> = "issuer",
    }
}

record_struct! {
    /// `responseElements.credentials`.
    pub struct Credentials {
        access_key_id: Text<'a> = "accessKeyId",
        expiration: Text<'a> = "expiration",
    }
}

record_struct! {
    /// `responseElements.assumedRoleUser`.
    pub struct AssumedRoleUser {
        assumed_role_id: Text<'a> = "assumedRoleId",
        arn: Text<'a> = "arn",
    }
}

impl<'a> Record<'a> {
    /// True when the record carries the fields every CloudTrail record has.
    pub fn looks_like_cloudtrail(&self) -> bool {
        self.event_time.is_some()
            && (self.event_id.is_some()
                || self.event_source.is_some()
                || self.event_version.is_some())
    }

    /// True for AssumeRole, AssumeRoleWithSAML and AssumeRoleWithWebIdentity on STS.
    pub fn is_assume_role(&self) -> bool {
        let source = self.event_source.as_ref().map(Text::as_str);
        let name = self.event_name.as_ref().map(Text::as_str);
        source == Some("sts.amazonaws.com")
            && matches!(
                name,
                Some("AssumeRole" | "AssumeRoleWithSAML" | "AssumeRoleWithWebIdentity")
            )
    }

    /// A deserialize entry point that starts with one key already read (used by the document
    /// reader, which peeks at keys to tell records from wrappers).
    pub(crate) fn fill_key<A: MapAccess<'a>>(
        &mut self,
        key: Cow<'a, str>,
        map: &mut A,
    ) -> Result<(), A::Error> {
        Record::fill(self, key, map)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_borrowed_and_keeps_unknown_keys() {
        let json = r#"{"eventVersion":"1.08","eventTime":"2024-01-01T00:00:00Z","eventID":"e1",
            "userIdentity":{"type":"AssumedRole","accessKeyId":"","onBehalfOf":{"x":1},
               "sessionContext":{"attributes":{"mfaAuthenticated":"false","creationDate":"20131102T010628Z"}}},
            "readOnly":"true","addendum":{"reason":"DELIVERY_DELAY"},"requestParameters":null}"#;
        let r: Record = serde_json::from_str(json).unwrap();
        assert!(matches!(
            r.event_id.as_ref().unwrap().0,
            Cow::Borrowed("e1")
        ));
        assert_eq!(r.read_only, Some(Flag(true)));
        assert!(r.request_parameters.is_none());
        assert_eq!(r.unknown.len(), 1);
        assert_eq!(r.unknown[0].0, "addendum");
        let ui = r.user_identity.unwrap();
        assert_eq!(ui.access_key_id.unwrap().as_str(), "");
        assert_eq!(ui.unknown[0].0, "onBehalfOf");
        let attrs = ui.session_context.unwrap().attributes.unwrap();
        assert_eq!(attrs.mfa_authenticated, Some(Flag(false)));
    }

    #[test]
    fn wrong_field_type_is_an_error_naming_the_field() {
        let err = serde_json::from_str::<Record>(r#"{"eventTime":12}"#).unwrap_err();
        assert!(err.to_string().contains("eventTime"), "{err}");
        let err = serde_json::from_str::<Record>(r#"{"userIdentity":"x"}"#).unwrap_err();
        assert!(err.to_string().contains("userIdentity"), "{err}");
    }

    #[test]
    fn escaped_strings_are_owned() {
        let r: Record = serde_json::from_str(r#"{"userAgent":"a\"b"}"#).unwrap();
        assert_eq!(r.user_agent.unwrap().as_str(), "a\"b");
    }

    #[test]
    fn int_accepts_strings() {
        let r: AssumeRoleRequest =
            serde_json::from_str(r#"{"durationSeconds":"900","roleArn":"arn"}"#).unwrap();
        assert_eq!(r.duration_seconds, Some(Int(900)));
    }
}
