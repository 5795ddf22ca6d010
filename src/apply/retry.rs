//! What the executor does after a failed call: a pure function of the
//! error's kind, the kind of call and the attempt, so the policy can be read
//! (and tested) in one table.

use std::time::Duration;

use crate::apply::report::StopKind;
use crate::model::ApiErrorKind;

/// The kind of call that failed, which decides what an unknown outcome
/// means.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Call {
    /// A read or a tag write: calling it twice does no harm.
    Idempotent,
    /// SplitShard or MergeShards: calling it twice may reshard twice.
    Reshard,
}

/// The reaction to a failed call.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Reaction {
    /// Call again after an exponential backoff for this attempt.
    Backoff,
    /// The stream is busy (a reshard runs): call again once it is ACTIVE.
    AwaitActive,
    /// The call may have taken effect: back off, wait for ACTIVE, and
    /// re-read the stream to learn whether it did before calling again.
    Reread,
    /// Stop this stream's plan.
    Stop(StopKind),
}

/// What to do after `call` failed with `kind` on attempt `attempt` (the
/// first is 1) of at most `max_attempts`.
pub(crate) fn react(kind: ApiErrorKind, call: Call, attempt: u32, max_attempts: u32) -> Reaction {
    if !kind.is_transient() || attempt >= max_attempts {
        return Reaction::Stop(stop_kind(kind));
    }
    match (kind, call) {
        (ApiErrorKind::ResourceInUse, _) => Reaction::AwaitActive,
        (ApiErrorKind::Timeout | ApiErrorKind::Unavailable, Call::Reshard) => Reaction::Reread,
        _ => Reaction::Backoff,
    }
}

/// How a plan stops when a call fails with `kind` for good.
pub(crate) fn stop_kind(kind: ApiErrorKind) -> StopKind {
    match kind {
        ApiErrorKind::Throttled => StopKind::Throttled,
        ApiErrorKind::ShardQuota => StopKind::ShardQuota,
        ApiErrorKind::NotFound => StopKind::StreamGone,
        ApiErrorKind::InvalidArgument => StopKind::Rejected,
        ApiErrorKind::AccessDenied | ApiErrorKind::Credentials => StopKind::AccessDenied,
        ApiErrorKind::Timeout => StopKind::Timeout,
        ApiErrorKind::ResourceInUse | ApiErrorKind::Unavailable | ApiErrorKind::Other => {
            StopKind::Failed
        }
    }
}

/// Exponential backoff from `initial`, doubling per attempt up to `max`,
/// with equal jitter: half the step fixed, half drawn from `unit` in
/// `[0, 1)`.
pub(crate) fn backoff(initial: Duration, max: Duration, attempt: u32, unit: f64) -> Duration {
    let step = initial
        .saturating_mul(2u32.saturating_pow(attempt.saturating_sub(1)))
        .min(max);
    let half = step / 2;
    half + half.mul_f64(unit)
}

#[cfg(test)]
mod tests {
    use super::*;
    use ApiErrorKind as E;
    use Call::{Idempotent, Reshard};

    #[test]
    fn reactions_follow_the_table() {
        const MAX: u32 = 6;
        #[rustfmt::skip]
        let table = [
            // kind,              call,       attempt, reaction
            (E::Throttled,        Reshard,    1,   Reaction::Backoff),
            (E::Throttled,        Idempotent, 5,   Reaction::Backoff),
            (E::Throttled,        Reshard,    MAX, Reaction::Stop(StopKind::Throttled)),
            (E::ShardQuota,       Reshard,    1,   Reaction::Stop(StopKind::ShardQuota)),
            (E::ResourceInUse,    Reshard,    1,   Reaction::AwaitActive),
            (E::ResourceInUse,    Idempotent, 2,   Reaction::AwaitActive),
            (E::ResourceInUse,    Reshard,    MAX, Reaction::Stop(StopKind::Failed)),
            (E::Timeout,          Reshard,    1,   Reaction::Reread),
            (E::Unavailable,      Reshard,    3,   Reaction::Reread),
            (E::Timeout,          Idempotent, 1,   Reaction::Backoff),
            (E::Unavailable,      Idempotent, 1,   Reaction::Backoff),
            (E::Timeout,          Reshard,    MAX, Reaction::Stop(StopKind::Timeout)),
            (E::Unavailable,      Idempotent, MAX, Reaction::Stop(StopKind::Failed)),
            (E::NotFound,         Reshard,    1,   Reaction::Stop(StopKind::StreamGone)),
            (E::InvalidArgument,  Reshard,    1,   Reaction::Stop(StopKind::Rejected)),
            (E::AccessDenied,     Idempotent, 1,   Reaction::Stop(StopKind::AccessDenied)),
            (E::Credentials,      Idempotent, 1,   Reaction::Stop(StopKind::AccessDenied)),
            (E::Other,            Reshard,    1,   Reaction::Stop(StopKind::Failed)),
        ];
        for (kind, call, attempt, expected) in table {
            assert_eq!(
                react(kind, call, attempt, MAX),
                expected,
                "{kind:?} on a {call:?} call, attempt {attempt}"
            );
        }
    }

    #[test]
    fn backoff_doubles_to_its_cap_with_half_jittered() {
        let s = Duration::from_secs;
        assert_eq!(backoff(s(1), s(30), 1, 0.0), Duration::from_millis(500));
        assert_eq!(backoff(s(1), s(30), 1, 0.5), Duration::from_millis(750));
        assert_eq!(backoff(s(1), s(30), 3, 0.0), s(2));
        assert_eq!(backoff(s(1), s(30), 6, 0.0), s(15));
        assert_eq!(backoff(s(1), s(30), 40, 0.5), Duration::from_millis(22_500));
    }
}
