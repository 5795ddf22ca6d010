//! The scheduled job: one pass per invocation, everything it needs from
//! the environment, nothing kept in the process between invocations
//! (cooldowns live in stream tags) but which notifications a warm
//! container already sent and what only saves reads: each stream's last
//! measured shard shares and its cached summary. A cold start reads them
//! again; no decision depends on them being kept.
//!
//! The Lambda handler ([`crate::lambda`], feature `lambda`) is a thin
//! shell over this.

use std::path::Path;
#[cfg(any(test, feature = "lambda"))]
use std::time::Duration;

#[cfg(feature = "lambda")]
use crate::apply::ExecutorConfig;
use crate::error::Error;
use crate::policy::Policy;

/// Where the policy comes from.
#[derive(Clone, Debug)]
pub enum PolicySource {
    /// `KAS_POLICY_YAML` (inline YAML), else `KAS_POLICY` (a file in the
    /// package), read at every invocation.
    Environment,
    /// Given directly (tests, embedding).
    Inline(String),
}

impl PolicySource {
    pub fn load(&self) -> Result<Policy, Error> {
        match self {
            PolicySource::Inline(text) => Ok(Policy::parse(text, Path::new("policy"))?),
            PolicySource::Environment => {
                if let Ok(text) = std::env::var("KAS_POLICY_YAML") {
                    Ok(Policy::parse(&text, Path::new("KAS_POLICY_YAML"))?)
                } else if let Ok(path) = std::env::var("KAS_POLICY") {
                    Ok(Policy::load(Path::new(&path))?)
                } else {
                    Err(Error::Usage(
                        "no policy: set KAS_POLICY_YAML to the policy's YAML, or KAS_POLICY to the path of a policy file in the package".into(),
                    ))
                }
            }
        }
    }
}

/// The executor settings, from the environment where set:
/// `KAS_WAIT_TIMEOUT` (longest wait for ACTIVE, default 10m) and
/// `KAS_OPERATION_ESTIMATE` (time one reshard needs to finish and be
/// recorded; none starts with less left, default 90s).
#[cfg(feature = "lambda")]
pub(crate) fn executor_config_from_env() -> Result<ExecutorConfig, Error> {
    let duration = |name: &str, default: Duration| -> Result<Duration, Error> {
        match std::env::var(name) {
            Err(_) => Ok(default),
            Ok(text) => humantime::parse_duration(text.trim()).map_err(|e| {
                Error::Usage(format!(
                    "{name}: {text:?} is not a duration ({e}); write it like 90s or 10m"
                ))
            }),
        }
    };
    Ok(ExecutorConfig {
        active_timeout: duration("KAS_WAIT_TIMEOUT", Duration::from_secs(600))?,
        operation_estimate: duration("KAS_OPERATION_ESTIMATE", Duration::from_secs(90))?,
        ..ExecutorConfig::default()
    })
}

/// How long is left until `deadline` (epoch milliseconds, as Lambda gives
/// it), less `margin` for returning the summary; `None` when there is no
/// deadline (0).
#[cfg(any(test, feature = "lambda"))]
pub(crate) fn time_left(
    deadline_ms: u64,
    now: std::time::SystemTime,
    margin: Duration,
) -> Option<Duration> {
    if deadline_ms == 0 {
        return None;
    }
    let deadline = std::time::UNIX_EPOCH + Duration::from_millis(deadline_ms);
    Some(
        deadline
            .duration_since(now)
            .unwrap_or_default()
            .saturating_sub(margin),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn time_left_keeps_a_margin_and_treats_zero_as_no_deadline() {
        let now = std::time::UNIX_EPOCH + Duration::from_secs(1_000);
        assert_eq!(time_left(0, now, Duration::from_secs(5)), None);
        assert_eq!(
            time_left(1_060_000, now, Duration::from_secs(5)),
            Some(Duration::from_secs(55))
        );
        assert_eq!(
            time_left(999_000, now, Duration::from_secs(5)),
            Some(Duration::ZERO)
        );
    }

    #[test]
    fn an_inline_policy_is_checked() {
        assert!(
            PolicySource::Inline("version: 1\nstreams: [{name: a}]\n".into())
                .load()
                .is_ok()
        );
        let err = PolicySource::Inline("version: 1\nstreams: [{nme: a}]\n".into())
            .load()
            .unwrap_err();
        assert!(err.to_string().contains("unknown field `nme`"), "{err}");
    }
}
