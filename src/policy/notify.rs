//! The policy's `notify:` block: where the controller says what it did, what
//! failed and what it cannot fix, and how often.
//!
//! The file's form ([`NotifySettings`]) is checked as it is parsed (a URL
//! that is not http(s), a topic ARN of the wrong shape), so the parser's
//! error carries the line and the field. Resolving it (`NotifySettings::resolve`)
//! reads the environment variables webhook URLs may come from, so that no
//! secret needs to sit in the policy. Delivery is not here: see
//! `crate::notify`.

use std::borrow::Cow;
use std::fmt;
use std::time::Duration;

use schemars::{JsonSchema, Schema, SchemaGenerator, json_schema};
use serde::{Deserialize, Deserializer, Serialize, Serializer};

use super::file::Span;
use crate::input;

/// The default wait before an event of the same type about the same stream
/// is sent again.
pub(crate) const DEFAULT_REPEAT_AFTER: Duration = Duration::from_secs(3600);
/// The default longest wait for one delivery attempt.
pub(crate) const DEFAULT_TIMEOUT: Duration = Duration::from_secs(5);
/// The default number of attempts per message and target.
pub(crate) const DEFAULT_ATTEMPTS: u32 = 3;
const MAX_ATTEMPTS: u32 = 10;
const TIMEOUTS: std::ops::RangeInclusive<Duration> =
    Duration::from_secs(1)..=Duration::from_secs(60);
const MAX_REPEAT_AFTER: Duration = Duration::from_secs(7 * 86_400);

/// Where to say what the controller did (resharded), what failed, and what
/// it cannot fix (a stream throttling at max_shards or at the account's
/// shard quota, a hot key), and a rejected policy reload. Each event type is
/// sent once per stream per `repeat_after`.
#[derive(Debug, Clone, Deserialize, Serialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct NotifySettings {
    /// One or more of `- webhook: URL`, `- webhook: { url_env: VAR }` and
    /// `- sns: TOPIC_ARN`.
    pub targets: Vec<TargetSettings>,
    /// After a message, further events of the same type about the same
    /// stream are counted, not sent, for this long; the next message says
    /// how many there were. `0s` sends every one. Default 1h.
    pub repeat_after: Option<Span>,
    /// The longest wait for one delivery attempt, 1s to 1m. Default 5s.
    pub timeout: Option<Span>,
    /// Attempts per message and target, 1 to 10, a second apart and
    /// doubling. Default 3.
    pub attempts: Option<u32>,
}

/// One place messages go, written as a map of one key: `webhook: URL` or
/// `sns: ARN`.
#[derive(Debug, Clone, Serialize, JsonSchema)]
#[serde(rename_all = "snake_case", deny_unknown_fields)]
pub enum TargetSettings {
    /// POST JSON with a `text` field (what a Slack incoming webhook shows)
    /// and the event's fields.
    Webhook(WebhookUrl),
    /// Publish to this SNS topic (`arn:aws:sns:REGION:ACCOUNT:NAME`), with a
    /// Subject and the same JSON.
    Sns(TopicArn),
}

impl<'de> Deserialize<'de> for TargetSettings {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct Visitor;
        impl<'de> serde::de::Visitor<'de> for Visitor {
            type Value = TargetSettings;

            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("one of `webhook: URL` or `sns: TOPIC_ARN`")
            }

            fn visit_map<A: serde::de::MapAccess<'de>>(
                self,
                mut map: A,
            ) -> Result<TargetSettings, A::Error> {
                const KINDS: &[&str] = &["webhook", "sns"];
                let Some(kind) = map.next_key::<String>()? else {
                    return Err(serde::de::Error::invalid_length(0, &self));
                };
                let target = match kind.as_str() {
                    "webhook" => TargetSettings::Webhook(map.next_value()?),
                    "sns" => TargetSettings::Sns(map.next_value()?),
                    other => return Err(serde::de::Error::unknown_variant(other, KINDS)),
                };
                if let Some(extra) = map.next_key::<String>()? {
                    return Err(serde::de::Error::custom(format_args!(
                        "{} beside {kind}: a target is one of `webhook: URL` or `sns: TOPIC_ARN`; list each as its own `- ` item",
                        input::quote(&extra)
                    )));
                }
                Ok(target)
            }
        }
        deserializer.deserialize_map(Visitor)
    }
}

/// A webhook URL written in the policy, or the environment variable that
/// holds it (a Slack webhook URL is a secret).
#[derive(Clone, PartialEq, Eq)]
pub enum WebhookUrl {
    Literal(url::Url),
    Env(String),
}

impl fmt::Debug for WebhookUrl {
    /// Without the URL's path and query, where webhook secrets live.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            WebhookUrl::Literal(url) => write!(f, "{}", redacted(url)),
            WebhookUrl::Env(var) => write!(f, "${var}"),
        }
    }
}

/// `url` without its path, query or credentials: safe to log.
pub(crate) fn redacted(url: &url::Url) -> String {
    format!(
        "{}://{}/…",
        url.scheme(),
        url.host_str().unwrap_or_default()
    )
}

/// A webhook URL as an error may quote it: up to its host, as
/// `"https://hooks.example.com/…"`. The path of a webhook is often its
/// secret, and errors are logged and sent as `reload_failed`.
fn shown(text: &str) -> String {
    let text = text.trim();
    let host_starts = text.find("://").map_or(0, |i| i + 3);
    match text[host_starts..].find(['/', '?', '#']) {
        Some(end) => format!("{}…", input::quote(&text[..host_starts + end + 1])),
        None => input::quote(text),
    }
}

/// Checks that `text` is an http(s) URL with a host.
fn webhook_url(text: &str) -> Result<url::Url, String> {
    let url = url::Url::parse(text.trim()).map_err(|e| format!("is not a URL ({e})"))?;
    if !matches!(url.scheme(), "http" | "https") {
        return Err(format!(
            "must be an http or https URL, not {}",
            input::quote(url.scheme())
        ));
    }
    if url.host_str().is_none_or(str::is_empty) {
        return Err("has no host".into());
    }
    Ok(url)
}

impl<'de> Deserialize<'de> for WebhookUrl {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct Visitor;
        impl<'de> serde::de::Visitor<'de> for Visitor {
            type Value = WebhookUrl;

            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a URL, or { url_env: VARIABLE } naming the variable that holds it")
            }

            fn visit_str<E: serde::de::Error>(self, v: &str) -> Result<WebhookUrl, E> {
                webhook_url(v)
                    .map(WebhookUrl::Literal)
                    .map_err(|why| E::custom(format_args!("{} {why}", shown(v))))
            }

            fn visit_map<A: serde::de::MapAccess<'de>>(
                self,
                mut map: A,
            ) -> Result<WebhookUrl, A::Error> {
                let mut var: Option<String> = None;
                while let Some(key) = map.next_key::<String>()? {
                    if key != "url_env" {
                        return Err(serde::de::Error::unknown_field(&key, &["url_env"]));
                    }
                    var = Some(map.next_value()?);
                }
                let var = var.ok_or_else(|| serde::de::Error::missing_field("url_env"))?;
                let valid = !var.is_empty()
                    && var.chars().all(|c| c.is_ascii_alphanumeric() || c == '_')
                    && !var.starts_with(|c: char| c.is_ascii_digit());
                if !valid {
                    return Err(serde::de::Error::custom(format_args!(
                        "url_env: {} is not an environment variable name (letters, digits and _)",
                        input::quote(&var)
                    )));
                }
                Ok(WebhookUrl::Env(var))
            }
        }
        deserializer.deserialize_any(Visitor)
    }
}

impl Serialize for WebhookUrl {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        use serde::ser::SerializeMap;
        match self {
            WebhookUrl::Literal(url) => serializer.serialize_str(url.as_str()),
            WebhookUrl::Env(var) => {
                let mut map = serializer.serialize_map(Some(1))?;
                map.serialize_entry("url_env", var)?;
                map.end()
            }
        }
    }
}

impl JsonSchema for WebhookUrl {
    fn schema_name() -> Cow<'static, str> {
        "WebhookUrl".into()
    }

    fn json_schema(_: &mut SchemaGenerator) -> Schema {
        json_schema!({
            "description": "An http(s) URL, or { url_env: VARIABLE } naming the environment variable that holds it.",
            "oneOf": [
                { "type": "string", "format": "uri" },
                {
                    "type": "object",
                    "properties": { "url_env": { "type": "string" } },
                    "required": ["url_env"],
                    "additionalProperties": false
                }
            ]
        })
    }
}

/// An SNS topic ARN: `arn:PARTITION:sns:REGION:ACCOUNT_ID:NAME`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TopicArn(pub String);

impl TopicArn {
    fn parse(text: &str) -> Result<TopicArn, String> {
        let parts: Vec<&str> = text.split(':').collect();
        let shape = "an SNS topic ARN such as arn:aws:sns:us-east-1:123456789012:alerts";
        let [arn, partition, service, region, account, name] = parts[..] else {
            return Err(format!("{} is not {shape}", input::quote(text)));
        };
        let problem = if arn != "arn" || !partition.starts_with("aws") {
            Some("does not start with arn:aws")
        } else if service != "sns" {
            Some("is not an SNS ARN (the third part must be sns)")
        } else if region.is_empty()
            || !region
                .chars()
                .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-')
        {
            Some("has no region")
        } else if account.len() != 12 || !account.chars().all(|c| c.is_ascii_digit()) {
            Some("has no 12-digit account ID")
        } else if name.is_empty()
            || name.len() > 256
            || !name
                .trim_end_matches(".fifo")
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
        {
            Some("has no topic name (1 to 256 letters, digits, - and _)")
        } else {
            None
        };
        match problem {
            Some(why) => Err(format!("{} {why}; expected {shape}", input::quote(text))),
            None => Ok(TopicArn(text.to_owned())),
        }
    }

    /// FIFO topics need a message group on every Publish.
    pub fn is_fifo(&self) -> bool {
        self.0.ends_with(".fifo")
    }
}

impl<'de> Deserialize<'de> for TopicArn {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let text = String::deserialize(deserializer)?;
        TopicArn::parse(&text).map_err(serde::de::Error::custom)
    }
}

impl Serialize for TopicArn {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(&self.0)
    }
}

impl JsonSchema for TopicArn {
    fn schema_name() -> Cow<'static, str> {
        "TopicArn".into()
    }

    fn json_schema(_: &mut SchemaGenerator) -> Schema {
        json_schema!({
            "type": "string",
            "pattern": "^arn:aws[a-z-]*:sns:[a-z0-9-]+:[0-9]{12}:[A-Za-z0-9_-]{1,256}(\\.fifo)?$",
            "examples": ["arn:aws:sns:us-east-1:123456789012:kinesis-autoscaler"]
        })
    }
}

/// The resolved `notify:` block.
#[derive(Debug, Clone, PartialEq)]
pub struct Notify {
    pub destinations: Vec<Destination>,
    pub repeat_after: Duration,
    pub timeout: Duration,
    pub attempts: u32,
}

/// One place messages go, resolved.
#[derive(Clone, PartialEq)]
pub enum Destination {
    Webhook {
        /// `notify.targets[i].webhook`: names it in metrics and logs,
        /// which never show the URL.
        name: String,
        url: url::Url,
    },
    Sns {
        name: String,
        topic: TopicArn,
    },
}

impl Destination {
    /// The policy field it was written as, e.g. `notify.targets[0].webhook`.
    pub fn name(&self) -> &str {
        match self {
            Destination::Webhook { name, .. } | Destination::Sns { name, .. } => name,
        }
    }
}

impl fmt::Debug for Destination {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Destination::Webhook { name, url } => write!(f, "{name}: {}", redacted(url)),
            Destination::Sns { name, topic } => write!(f, "{name}: {}", topic.0),
        }
    }
}

impl NotifySettings {
    /// The block with its defaults filled in and its variables read through
    /// `env`, or every problem as `notify.field: what is wrong`.
    pub(crate) fn resolve(
        &self,
        env: impl Fn(&str) -> Option<String>,
    ) -> Result<Notify, Vec<String>> {
        let mut problems = Vec::new();
        if self.targets.is_empty() {
            problems.push(
                "notify.targets: lists no target; add `- webhook: URL` or `- sns: TOPIC_ARN`"
                    .into(),
            );
        }
        let mut destinations = Vec::new();
        for (i, target) in self.targets.iter().enumerate() {
            match target {
                TargetSettings::Webhook(WebhookUrl::Literal(url)) => {
                    destinations.push(Destination::Webhook {
                        name: format!("notify.targets[{i}].webhook"),
                        url: url.clone(),
                    })
                }
                TargetSettings::Webhook(WebhookUrl::Env(var)) => {
                    let field = format!("notify.targets[{i}].webhook.url_env");
                    match env(var).filter(|v| !v.trim().is_empty()) {
                        None => problems.push(format!(
                            "{field}: the environment variable {var} is not set; set it to the webhook URL"
                        )),
                        // The value is a secret: the message names the
                        // variable, never what it holds.
                        Some(value) => match webhook_url(&value) {
                            Ok(url) => destinations.push(Destination::Webhook {
                                name: format!("notify.targets[{i}].webhook"),
                                url,
                            }),
                            Err(why) => {
                                problems.push(format!("{field}: the value of {var} {why}"))
                            }
                        },
                    }
                }
                TargetSettings::Sns(topic) => destinations.push(Destination::Sns {
                    name: format!("notify.targets[{i}].sns"),
                    topic: topic.clone(),
                }),
            }
        }
        let timeout = self.timeout.map_or(DEFAULT_TIMEOUT, |s| s.0);
        if !TIMEOUTS.contains(&timeout) {
            problems.push(format!(
                "notify.timeout: {} is outside 1s..1m",
                humantime::format_duration(timeout)
            ));
        }
        let attempts = self.attempts.unwrap_or(DEFAULT_ATTEMPTS);
        if !(1..=MAX_ATTEMPTS).contains(&attempts) {
            problems.push(format!(
                "notify.attempts: must be 1 to {MAX_ATTEMPTS}, got {attempts}"
            ));
        }
        let repeat_after = self.repeat_after.map_or(DEFAULT_REPEAT_AFTER, |s| s.0);
        if repeat_after > MAX_REPEAT_AFTER {
            problems.push(format!(
                "notify.repeat_after: {} is longer than a week",
                humantime::format_duration(repeat_after)
            ));
        }
        if problems.is_empty() {
            Ok(Notify {
                destinations,
                repeat_after,
                timeout,
                attempts,
            })
        } else {
            Err(problems)
        }
    }
}

#[cfg(test)]
mod tests {
    use std::path::Path;

    use super::*;
    use crate::policy::Policy;

    fn parse(notify: &str) -> Result<Policy, String> {
        let text = format!("version: 1\nstreams:\n  - name: orders\n{notify}");
        Policy::parse(&text, Path::new("p.yaml")).map_err(|e| e.to_string())
    }

    #[test]
    fn every_field_is_read_and_the_rest_take_their_defaults() {
        let policy = parse(
            "notify:
  targets:
    - webhook: https://hooks.example.com/services/T0/B0/secret
    - sns: arn:aws:sns:eu-west-1:123456789012:kinesis-alerts
    - sns: arn:aws-us-gov:sns:us-gov-west-1:123456789012:ops.fifo
  repeat_after: 30m
  timeout: 2s
  attempts: 5
",
        )
        .unwrap();
        let notify = policy.notify.unwrap();
        assert_eq!(notify.repeat_after, Duration::from_secs(1800));
        assert_eq!(notify.timeout, Duration::from_secs(2));
        assert_eq!(notify.attempts, 5);
        let names: Vec<&str> = notify.destinations.iter().map(Destination::name).collect();
        assert_eq!(
            names,
            [
                "notify.targets[0].webhook",
                "notify.targets[1].sns",
                "notify.targets[2].sns"
            ]
        );
        let Destination::Webhook { url, .. } = &notify.destinations[0] else {
            panic!("{:?}", notify.destinations[0])
        };
        assert_eq!(
            url.as_str(),
            "https://hooks.example.com/services/T0/B0/secret"
        );
        // Logs and debug output never show the secret part.
        let shown = format!("{:?}", notify.destinations);
        assert!(!shown.contains("secret"), "{shown}");
        assert!(shown.contains("https://hooks.example.com/…"), "{shown}");
        let Destination::Sns { topic, .. } = &notify.destinations[2] else {
            panic!()
        };
        assert!(topic.is_fifo());

        let defaults = parse("notify: { targets: [ { webhook: 'http://127.0.0.1:8080/x' } ] }\n")
            .unwrap()
            .notify
            .unwrap();
        assert_eq!(
            (defaults.repeat_after, defaults.timeout, defaults.attempts),
            (DEFAULT_REPEAT_AFTER, DEFAULT_TIMEOUT, DEFAULT_ATTEMPTS)
        );
        assert_eq!(parse("").unwrap().notify, None);
    }

    #[test]
    fn a_webhook_url_comes_from_the_variable_url_env_names() {
        let settings: NotifySettings =
            input::yaml::from_str("targets: [ { webhook: { url_env: SLACK_WEBHOOK_URL } } ]\n")
                .unwrap();
        let env = |value: &'static str| {
            move |var: &str| (var == "SLACK_WEBHOOK_URL").then(|| value.to_owned())
        };
        let notify = settings
            .resolve(env("https://hooks.slack.com/services/T/B/x"))
            .unwrap();
        assert_eq!(
            notify.destinations,
            [Destination::Webhook {
                name: "notify.targets[0].webhook".into(),
                url: "https://hooks.slack.com/services/T/B/x".parse().unwrap(),
            }]
        );
        // A bad value is named by its variable, and not shown.
        let problems = settings.resolve(env("ftp://secret-host/x")).unwrap_err();
        assert_eq!(
            problems,
            [
                "notify.targets[0].webhook.url_env: the value of SLACK_WEBHOOK_URL must be an http or https URL, not \"ftp\""
            ]
        );
        let problems = settings.resolve(env("  ")).unwrap_err();
        assert_eq!(
            problems,
            [
                "notify.targets[0].webhook.url_env: the environment variable SLACK_WEBHOOK_URL is not set; set it to the webhook URL"
            ]
        );
    }

    #[test]
    fn bad_targets_and_settings_are_refused_naming_the_file_and_the_field() {
        let cases = [
            (
                "notify: { targets: [ { webhook: 'ftp://example.com/x' } ] }",
                "p.yaml:4:33: notify.targets[0].webhook: \"ftp://example.com/\"… must be an http or https URL, not \"ftp\"",
            ),
            (
                // The path, where a webhook keeps its secret, is not shown.
                "notify: { targets: [ { webhook: 'htps://hooks.slack.com/services/T0/B0/SECRET' } ] }",
                "p.yaml:4:33: notify.targets[0].webhook: \"htps://hooks.slack.com/\"… must be an http or https URL, not \"htps\"",
            ),
            (
                "notify: { targets: [ { webhook: 'hooks.example.com/x' } ] }",
                "p.yaml:4:33: notify.targets[0].webhook: \"hooks.example.com/\"… is not a URL (relative URL without a base)",
            ),
            (
                "notify: { targets: [ { webhook: { url_env: KAS_TEST_SURELY_UNSET_7f3a } } ] }",
                "p.yaml: invalid policy:\n  - notify.targets[0].webhook.url_env: the environment variable KAS_TEST_SURELY_UNSET_7f3a is not set; set it to the webhook URL",
            ),
            (
                "notify: { targets: [ { webhook: { url_env: 'not a name' } } ] }",
                "notify.targets[0].webhook: url_env: \"not a name\" is not an environment variable name",
            ),
            (
                "notify: { targets: [ { webhook: { url: x } } ] }",
                "notify.targets[0].webhook: unknown field `url`, expected `url_env`",
            ),
            (
                "notify: { targets: [ { sns: 'arn:aws:sqs:us-east-1:123456789012:q' } ] }",
                "p.yaml:4:22: notify.targets[0].sns: \"arn:aws:sqs:us-east-1:123456789012:q\" is not an SNS ARN (the third part must be sns); expected an SNS topic ARN such as arn:aws:sns:us-east-1:123456789012:alerts",
            ),
            (
                "notify: { targets: [ { sns: 'arn:aws:sns:us-east-1:1234:alerts' } ] }",
                "notify.targets[0].sns: \"arn:aws:sns:us-east-1:1234:alerts\" has no 12-digit account ID",
            ),
            (
                "notify: { targets: [ { sns: 'my-topic' } ] }",
                "notify.targets[0].sns: \"my-topic\" is not an SNS topic ARN such as",
            ),
            (
                "notify: { targets: [ { sns: 'arn:aws:sns:us-east-1:123456789012:a/b' } ] }",
                "has no topic name (1 to 256 letters, digits, - and _)",
            ),
            (
                "notify: { targets: [ { webhok: 'https://x.example' } ] }",
                "notify.targets[0]: unknown variant `webhok`, expected `webhook` or `sns`",
            ),
            (
                "notify: { targets: [] }",
                "notify.targets: lists no target; add `- webhook: URL` or `- sns: TOPIC_ARN`",
            ),
            (
                "notify: { targets: [ { sns: 'arn:aws:sns:us-east-1:123456789012:a' } ], timeout: 2m }",
                "notify.timeout: 2m is outside 1s..1m",
            ),
            (
                "notify: { targets: [ { sns: 'arn:aws:sns:us-east-1:123456789012:a' } ], attempts: 0 }",
                "notify.attempts: must be 1 to 10, got 0",
            ),
            (
                "notify: { targets: [ { sns: 'arn:aws:sns:us-east-1:123456789012:a' } ], repeat_after: 8d }",
                "notify.repeat_after: 8days is longer than a week",
            ),
            (
                "notify: { targets: [ { sns: 'arn:aws:sns:us-east-1:123456789012:a' } ], every: 1h }",
                "notify.every: unknown field `every`, expected one of `targets`, `repeat_after`, `timeout`, `attempts`",
            ),
        ];
        for (notify, expected) in cases {
            let message = parse(&format!("{notify}\n")).unwrap_err();
            assert!(
                message.contains(expected),
                "{notify}: expected {expected:?} in {message}"
            );
        }
    }
}
