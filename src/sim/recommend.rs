//! Which strategy to choose: the cheapest whose throttling stays within
//! an objective, said in one line.

use super::cost::Prices;
use super::strategy::Summary;
use super::tune::Family;
use crate::model::CAPACITY_MODE_SWITCHES_PER_DAY;

/// What an operator does to adopt a strategy of `family`, with what a
/// switch of capacity mode allows and what Advantage commits to.
pub fn adopt(family: Family, prices: &Prices) -> String {
    let switch = format!(
        "switch the stream to On-Demand mode (a stream may switch capacity mode {CAPACITY_MODE_SWITCHES_PER_DAY} times per rolling 24 hours)"
    );
    match family {
        Family::OnDemand => switch,
        Family::OnDemandAdvantage => format!(
            "enable On-Demand Advantage for the account (UpdateAccountSettings; it commits the account to {} MiB/s of data in for at least 24 hours, and this assumes the stream carries {:.0}% of it: prices.advantage_commitment_share) and {switch}",
            prices.advantage_commitment_mib_per_second,
            prices.advantage_commitment_share * 100.0
        ),
        Family::Planner => {
            "run kinesis-autoscaler with the policy simulated (`simulate --show-policy` prints it)"
                .into()
        }
        Family::Uniform => "scale the whole stream uniformly (UpdateShardCount)".into(),
        Family::Static => "keep a fixed number of shards".into(),
    }
}

/// What a replay recommends: the cheapest strategy whose throttling stays
/// within the objective.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct Recommendation {
    pub strategy: String,
    /// Whether it meets the objective (else it is the least throttled).
    pub meets_objective: bool,
    pub max_throttled_fraction: f64,
    /// The sentence shown to the operator.
    pub text: String,
    /// Why it cannot be relied on yet (too little history), when so.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub provisional: Option<String>,
}

/// The cheapest of `results` throttling at most `max_fraction` of writes;
/// if none does, the least throttled, said plainly.
pub fn recommend(
    results: &[&Summary],
    max_fraction: f64,
    prices: &Prices,
) -> Option<Recommendation> {
    let pct = |f: f64| format!("{:.3}%", f * 100.0);
    let within = results
        .iter()
        .filter(|s| s.throttled_fraction <= max_fraction)
        .min_by(|a, b| a.cost_usd.total_cmp(&b.cost_usd));
    let (best, meets) = match within {
        Some(s) => (s, true),
        None => (
            results.iter().min_by(|a, b| {
                a.throttled_fraction
                    .total_cmp(&b.throttled_fraction)
                    .then(a.cost_usd.total_cmp(&b.cost_usd))
            })?,
            false,
        ),
    };
    let mode = best
        .family
        .map_or_else(|| "use it".into(), |family| adopt(family, prices));
    let text = if meets {
        format!(
            "recommendation: {} (${:.2}, {} throttled): the cheapest within the objective of {} throttled; {mode}",
            best.strategy,
            best.cost_usd,
            pct(best.throttled_fraction),
            pct(max_fraction)
        )
    } else {
        format!(
            "recommendation: none keeps throttling within {}; the least throttled is {} ({} throttled, ${:.2}); {mode}, and look at the stream's partition keys",
            pct(max_fraction),
            best.strategy,
            pct(best.throttled_fraction),
            best.cost_usd
        )
    };
    Some(Recommendation {
        strategy: best.strategy.clone(),
        meets_objective: meets,
        max_throttled_fraction: max_fraction,
        text,
        provisional: None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sim::strategy::Strategy;

    #[test]
    fn the_recommendation_is_the_cheapest_within_the_objective() {
        let run = |strategy: &str, cost_usd: f64, throttled_fraction: f64| Summary {
            strategy: strategy.into(),
            family: strategy.parse::<Strategy>().ok().map(Family::of),
            cost_usd,
            throttled_fraction,
            ..Summary::default()
        };
        let results = [
            run("planner", 30.0, 0.002),
            run("uniform", 28.0, 0.005),
            run("static:5", 31.0, 0.0005),
            run("on-demand", 150.0, 0.0),
        ];
        let all: Vec<&Summary> = results.iter().collect();
        let prices = Prices::default();
        let r = recommend(&all, 0.001, &prices).unwrap();
        assert_eq!(r.strategy, "static:5");
        assert!(r.meets_objective);
        assert_eq!(
            r.text,
            "recommendation: static:5 ($31.00, 0.050% throttled): the cheapest within the objective of 0.100% throttled; keep a fixed number of shards"
        );
        // A suite's static baseline may hold more shards than a user may
        // ask for (UpdateShardCount's 10,000): still a fixed number.
        let large = Summary {
            strategy: "static:15000".into(),
            family: Some(Family::Static),
            ..results[2].clone()
        };
        let r = recommend(&[&large], 0.001, &prices).unwrap();
        assert!(
            r.text.ends_with("keep a fixed number of shards"),
            "{}",
            r.text
        );
        // Spiky traffic: only On-Demand keeps within it, and says so.
        let r = recommend(&[&results[0], &results[1], &results[3]], 0.001, &prices).unwrap();
        assert_eq!(r.strategy, "on-demand");
        assert!(r.meets_objective);
        assert!(
            r.text.ends_with(
                "switch the stream to On-Demand mode (a stream may switch capacity mode 2 times per rolling 24 hours)"
            ),
            "{}",
            r.text
        );
        // Advantage, cheaper still: the commitment it assumes is said.
        let advantage = run("on-demand-advantage", 90.0, 0.0);
        let r = recommend(
            &[&results[0], &results[1], &results[3], &advantage],
            0.001,
            &Prices {
                advantage_commitment_share: 0.4,
                ..Prices::default()
            },
        )
        .unwrap();
        assert_eq!(r.strategy, "on-demand-advantage");
        assert_eq!(
            r.text,
            "recommendation: on-demand-advantage ($90.00, 0.000% throttled): the cheapest within the objective of 0.100% throttled; enable On-Demand Advantage for the account (UpdateAccountSettings; it commits the account to 25 MiB/s of data in for at least 24 hours, and this assumes the stream carries 40% of it: prices.advantage_commitment_share) and switch the stream to On-Demand mode (a stream may switch capacity mode 2 times per rolling 24 hours)"
        );
        // None within: the least throttled, said plainly.
        let r = recommend(&[&results[0], &results[1]], 0.001, &prices).unwrap();
        assert_eq!(r.strategy, "planner");
        assert!(!r.meets_objective);
        assert!(
            r.text
                .starts_with("recommendation: none keeps throttling within 0.100%"),
            "{}",
            r.text
        );
    }
}
