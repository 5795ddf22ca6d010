//! What a strategy costs in US dollars: the stream itself (provisioned
//! shards or an On-Demand stream), the data it takes, and the controller's
//! own running cost (shard-level metrics, metric reads, where it runs).
//!
//! Default prices are us-east-1's list prices; a scenario's `prices:` block
//! overrides any of them for another region or contract.

use serde::{Deserialize, Serialize};

/// Bytes in the 25 KB PUT payload unit provisioned streams bill records in.
const PUT_PAYLOAD_UNIT: f64 = 25.0 * 1024.0;
/// Bytes in the 1 KB unit On-Demand rounds each record up to.
const ON_DEMAND_UNIT: f64 = 1024.0;
const GB: f64 = 1024.0 * 1024.0 * 1024.0;
use crate::model::{GET_METRIC_DATA_USD_PER_METRIC, HOURS_PER_MONTH, METRIC_MONTH_USD};

/// Prices in US dollars.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields, default)]
pub struct Prices {
    /// Provisioned: per shard-hour.
    pub shard_hour: f64,
    /// Provisioned: per million 25 KB PUT payload units.
    pub put_payload_units_per_million: f64,
    /// On-Demand Standard: per stream-hour.
    pub on_demand_stream_hour: f64,
    /// On-Demand Standard: per GB written (each record rounded up to 1 KB).
    pub on_demand_data_in_per_gb: f64,
    /// On-Demand Standard: per GB read, by each consumer.
    pub on_demand_data_out_per_gb: f64,
    /// On-Demand Advantage: per GB written (each record rounded up to 1
    /// KB); no per-stream hourly charge.
    pub advantage_data_in_per_gb: f64,
    /// On-Demand Advantage: per GB read, by each consumer (enhanced
    /// fan-out ones too).
    pub advantage_data_out_per_gb: f64,
    /// On-Demand Advantage: the account's minimum throughput commitment,
    /// MiB/s of data in, billed every hour whether written or not.
    pub advantage_commitment_mib_per_second: f64,
    /// The share of that commitment this stream carries (1: the account's
    /// only On-Demand stream; 0: the account's other streams already write
    /// more than the commitment).
    pub advantage_commitment_share: f64,
    /// On-Demand Advantage: per MiB/s of warm throughput held for an hour
    /// (0 unless AWS bills it; check).
    pub advantage_warm_mib_hour: f64,
    /// Enhanced fan-out on a provisioned stream: per consumer-shard-hour.
    pub efo_consumer_shard_hour: f64,
    /// Enhanced fan-out on a provisioned stream: per GB retrieved.
    pub efo_data_out_per_gb: f64,
    /// Enhanced fan-out on an On-Demand Standard stream: per GB retrieved
    /// (instead of `on_demand_data_out_per_gb`).
    pub on_demand_efo_data_out_per_gb: f64,
    /// CloudWatch: per metric-month for the account's first 10,000
    /// metrics (each shard-level metric of each shard is one metric,
    /// billed for the hours it is published).
    pub metric_month: f64,
    /// The same for the next 240,000 metrics.
    pub metric_month_over_10k: f64,
    /// The same for the next 750,000.
    pub metric_month_over_250k: f64,
    /// The same above 1,000,000.
    pub metric_month_over_1m: f64,
    /// Metrics the account publishes besides this stream's shard-level
    /// ones: they decide which tier this stream's are billed in.
    pub account_metrics: f64,
    /// CloudWatch GetMetricData: per 1,000 metrics requested.
    pub get_metric_data_per_thousand_metrics: f64,
    /// Where the controller runs, per hour at one pass a minute (default: a
    /// 128 MB Lambda with a one-second pass); scaled by the passes a
    /// strategy really makes.
    pub controller_hour: f64,
}

impl Default for Prices {
    /// us-east-1 list prices.
    fn default() -> Self {
        Prices {
            shard_hour: crate::model::SHARD_HOUR_USD,
            put_payload_units_per_million: 0.014,
            on_demand_stream_hour: 0.04,
            on_demand_data_in_per_gb: 0.08,
            on_demand_data_out_per_gb: 0.04,
            // AWS: "at least 60% lower" than Standard's $0.08 and $0.04.
            advantage_data_in_per_gb: 0.032,
            advantage_data_out_per_gb: 0.016,
            // Not confirmed from AWS; 25 MiB/s at $0.032 bills what 10
            // MiB/s does at Standard's $0.08, the aggregate AWS calls
            // Advantage's break-even.
            advantage_commitment_mib_per_second: 25.0,
            advantage_commitment_share: 1.0,
            advantage_warm_mib_hour: 0.0,
            efo_consumer_shard_hour: 0.015,
            efo_data_out_per_gb: 0.013,
            on_demand_efo_data_out_per_gb: 0.05,
            metric_month: METRIC_MONTH_USD,
            metric_month_over_10k: 0.10,
            metric_month_over_250k: 0.05,
            metric_month_over_1m: 0.02,
            account_metrics: 0.0,
            get_metric_data_per_thousand_metrics: GET_METRIC_DATA_USD_PER_METRIC * 1000.0,
            // 60 invocations an hour of 1 s at 0.125 GB: 7.5 GB-s at
            // $0.0000166667, plus 60 requests at $0.20 per million.
            controller_hour: 60.0 * (0.125 * 0.000_016_666_7 + 0.000_000_2),
        }
    }
}

impl Prices {
    /// The names a `prices:` block may set, for messages.
    pub const FIELDS: &'static [&'static str] = &[
        "shard_hour",
        "put_payload_units_per_million",
        "on_demand_stream_hour",
        "on_demand_data_in_per_gb",
        "on_demand_data_out_per_gb",
        "advantage_data_in_per_gb",
        "advantage_data_out_per_gb",
        "advantage_commitment_mib_per_second",
        "advantage_commitment_share",
        "advantage_warm_mib_hour",
        "efo_consumer_shard_hour",
        "efo_data_out_per_gb",
        "on_demand_efo_data_out_per_gb",
        "metric_month",
        "metric_month_over_10k",
        "metric_month_over_250k",
        "metric_month_over_1m",
        "account_metrics",
        "get_metric_data_per_thousand_metrics",
        "controller_hour",
    ];

    /// What holding `metrics` metrics for a month costs on top of the
    /// account's other `account_metrics`, at CloudWatch's tiered prices.
    pub fn metrics_per_month(&self, metrics: f64) -> f64 {
        let tiers = [
            (0.0, self.metric_month),
            (10_000.0, self.metric_month_over_10k),
            (250_000.0, self.metric_month_over_250k),
            (1_000_000.0, self.metric_month_over_1m),
        ];
        let (from, to) = (self.account_metrics, self.account_metrics + metrics);
        tiers
            .iter()
            .enumerate()
            .map(|(i, &(floor, price))| {
                let ceiling = tiers.get(i + 1).map_or(f64::INFINITY, |t| t.0);
                (to.min(ceiling) - from.max(floor)).max(0.0) * price
            })
            .sum()
    }

    /// The first price that is negative or not a number, by name.
    pub fn invalid(&self) -> Option<(&'static str, f64)> {
        let values = [
            self.shard_hour,
            self.put_payload_units_per_million,
            self.on_demand_stream_hour,
            self.on_demand_data_in_per_gb,
            self.on_demand_data_out_per_gb,
            self.advantage_data_in_per_gb,
            self.advantage_data_out_per_gb,
            self.advantage_commitment_mib_per_second,
            self.advantage_commitment_share,
            self.advantage_warm_mib_hour,
            self.efo_consumer_shard_hour,
            self.efo_data_out_per_gb,
            self.on_demand_efo_data_out_per_gb,
            self.metric_month,
            self.metric_month_over_10k,
            self.metric_month_over_250k,
            self.metric_month_over_1m,
            self.account_metrics,
            self.get_metric_data_per_thousand_metrics,
            self.controller_hour,
        ];
        Self::FIELDS
            .iter()
            .zip(values)
            .find(|(_, v)| !(v.is_finite() && *v >= 0.0))
            .map(|(n, v)| (*n, v))
    }

    /// The GB of data in the stream's share of the Advantage commitment
    /// bills each hour.
    pub fn committed_gb_per_hour(&self) -> f64 {
        self.advantage_commitment_mib_per_second * self.advantage_commitment_share * 3600.0 / 1024.0
    }
}

/// How a stream is billed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Billing {
    Provisioned,
    OnDemand,
    /// On-Demand in an account with On-Demand Advantage enabled.
    Advantage,
}

/// What one simulation used, in the units AWS bills.
#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub struct Usage {
    pub hours: f64,
    /// Open shards summed over time (provisioned).
    pub shard_hours: f64,
    /// Records written (accepted), and the size of each.
    pub records: f64,
    pub record_size: f64,
    /// Consumers reading every record.
    pub consumers: u32,
    /// Shard-level metric-hours published: each metric of each shard for
    /// every clock hour it was published in.
    pub metric_hours: f64,
    /// Metrics requested from CloudWatch, all calls together.
    pub metrics_requested: f64,
    /// How often a controller runs, passes per hour (0: none runs); each
    /// costs a sixtieth of `controller_hour`.
    pub passes_per_hour: f64,
    /// Enhanced fan-out consumers (each reads every record, on top of
    /// `consumers`).
    pub efo_consumers: u32,
    /// Advantage: the GB of data in the commitment billed beyond what was
    /// written, summed over the hours that wrote less than it.
    pub unused_commitment_gb: f64,
    /// Advantage: warm throughput held, MiB/s summed over hours.
    pub warm_mib_hours: f64,
}

/// A strategy's cost, all in, and its parts (and, in JSON,
/// `controller_total_usd`: the table's CONTROLLER $).
#[derive(Debug, Clone, Copy, PartialEq, Default, Serialize)]
#[serde(into = "CostBreakdownJson")]
pub struct CostBreakdown {
    /// Shard-hours (provisioned), stream-hours (On-Demand Standard), or
    /// the commitment not written and warm throughput (Advantage).
    pub capacity_usd: f64,
    /// PUT payload units (provisioned) or data in and out (On-Demand).
    pub data_usd: f64,
    /// Enhanced fan-out consumers: consumer-shard-hours and retrievals.
    pub fan_out_usd: f64,
    /// Shard-level metrics in CloudWatch.
    pub shard_metrics_usd: f64,
    /// GetMetricData (or GetMetricStatistics) requests.
    pub metric_requests_usd: f64,
    /// The Lambda or sidecar the controller runs on.
    pub controller_usd: f64,
}

/// [`CostBreakdown`] as JSON gives it: its parts, and the controller's
/// total the table shows as CONTROLLER $.
#[derive(Serialize)]
struct CostBreakdownJson {
    capacity_usd: f64,
    data_usd: f64,
    fan_out_usd: f64,
    shard_metrics_usd: f64,
    metric_requests_usd: f64,
    controller_usd: f64,
    controller_total_usd: f64,
}

impl From<CostBreakdown> for CostBreakdownJson {
    fn from(c: CostBreakdown) -> Self {
        CostBreakdownJson {
            capacity_usd: c.capacity_usd,
            data_usd: c.data_usd,
            fan_out_usd: c.fan_out_usd,
            shard_metrics_usd: c.shard_metrics_usd,
            metric_requests_usd: c.metric_requests_usd,
            controller_usd: c.controller_usd,
            controller_total_usd: c.controller_total(),
        }
    }
}

impl CostBreakdown {
    /// Everything.
    pub fn total(&self) -> f64 {
        self.capacity_usd + self.data_usd + self.fan_out_usd + self.controller_total()
    }

    /// What running the controller costs: its metrics, its reads and its
    /// host.
    pub fn controller_total(&self) -> f64 {
        self.shard_metrics_usd + self.metric_requests_usd + self.controller_usd
    }
}

/// What `usage` costs at `prices`, billed as `billing`.
pub fn cost(billing: Billing, usage: &Usage, prices: &Prices) -> CostBreakdown {
    let units = |unit: f64| usage.records * (usage.record_size / unit).ceil();
    // Data as On-Demand meters it, and as retrieved (not rounded).
    let metered_gb = units(ON_DEMAND_UNIT) * ON_DEMAND_UNIT / GB;
    let read_gb = usage.records * usage.record_size / GB;
    let readers = f64::from(usage.consumers);
    let fan_out = f64::from(usage.efo_consumers);
    let (capacity_usd, data_usd, fan_out_usd) = match billing {
        Billing::Provisioned => (
            usage.shard_hours * prices.shard_hour,
            units(PUT_PAYLOAD_UNIT) / 1e6 * prices.put_payload_units_per_million,
            fan_out
                * (usage.shard_hours * prices.efo_consumer_shard_hour
                    + read_gb * prices.efo_data_out_per_gb),
        ),
        Billing::OnDemand => (
            usage.hours * prices.on_demand_stream_hour,
            metered_gb * prices.on_demand_data_in_per_gb
                + metered_gb * readers * prices.on_demand_data_out_per_gb,
            fan_out * metered_gb * prices.on_demand_efo_data_out_per_gb,
        ),
        Billing::Advantage => (
            usage.unused_commitment_gb * prices.advantage_data_in_per_gb
                + usage.warm_mib_hours * prices.advantage_warm_mib_hour,
            metered_gb * prices.advantage_data_in_per_gb
                + metered_gb * readers * prices.advantage_data_out_per_gb,
            fan_out * metered_gb * prices.advantage_data_out_per_gb,
        ),
    };
    CostBreakdown {
        capacity_usd,
        data_usd,
        fan_out_usd,
        // The metrics held on average make a month's count, billed by tier
        // and prorated by the hours.
        shard_metrics_usd: if usage.hours > 0.0 {
            prices.metrics_per_month(usage.metric_hours / usage.hours) * usage.hours
                / HOURS_PER_MONTH
        } else {
            0.0
        },
        metric_requests_usd: usage.metrics_requested / 1000.0
            * prices.get_metric_data_per_thousand_metrics,
        controller_usd: usage.hours * prices.controller_hour * usage.passes_per_hour / 60.0,
    }
}

/// Advantage: the GB of the commitment (`committed_gb_per_hour`) that
/// went unwritten, hour by hour, given each minute's GB written as
/// On-Demand meters it. A last partial hour commits its share of an hour.
pub fn unused_commitment_gb(minutes_gb: &[f64], committed_gb_per_hour: f64) -> f64 {
    minutes_gb
        .chunks(60)
        .map(|hour| {
            let committed = committed_gb_per_hour * hour.len() as f64 / 60.0;
            (committed - hour.iter().sum::<f64>()).max(0.0)
        })
        .sum()
}

/// The GB On-Demand meters for `records` records of `record_size` bytes
/// (each rounded up to 1 KB).
pub fn metered_gb(records: f64, record_size: f64) -> f64 {
    records * (record_size / ON_DEMAND_UNIT).ceil() * ON_DEMAND_UNIT / GB
}

#[cfg(test)]
mod tests {
    use super::*;

    fn close(a: f64, b: f64) -> bool {
        (a - b).abs() < 1e-12
    }

    #[test]
    fn a_static_two_shard_stream_for_one_hour_costs_what_aws_bills() {
        // 2 shards for 1 hour at 1,000 records/s of 30 KiB: each record is
        // two 25 KB PUT payload units.
        let usage = Usage {
            hours: 1.0,
            shard_hours: 2.0,
            records: 3_600_000.0,
            record_size: 30.0 * 1024.0,
            consumers: 1,
            ..Usage::default()
        };
        let c = cost(Billing::Provisioned, &usage, &Prices::default());
        // 2 x $0.015 = $0.03; 7.2 million units x $0.014 = $0.1008.
        assert!(close(c.capacity_usd, 0.03), "{c:?}");
        assert!(close(c.data_usd, 0.1008), "{c:?}");
        assert!(close(c.controller_total(), 0.0), "{c:?}");
        assert!(close(c.total(), 0.1308), "{c:?}");
    }

    #[test]
    fn on_demand_bills_the_stream_hour_and_each_kb_in_and_out() {
        // 1 hour, 1,048,576 records of 1.5 KiB (2 KB billed each: 2 GiB),
        // read by two consumers.
        let usage = Usage {
            hours: 1.0,
            records: 1_048_576.0,
            record_size: 1536.0,
            consumers: 2,
            ..Usage::default()
        };
        let c = cost(Billing::OnDemand, &usage, &Prices::default());
        assert!(close(c.capacity_usd, 0.04), "{c:?}");
        // 2 GB in at $0.08, 2 x 2 GB out at $0.04.
        assert!(close(c.data_usd, 0.16 + 0.16), "{c:?}");
    }

    #[test]
    fn advantage_bills_data_at_its_rates_and_the_commitment_not_written() {
        // The same hour as above in an Advantage account: no stream-hour,
        // 2 GB in at $0.032, 2 x 2 GB out at $0.016, and 10 GB of the
        // commitment not written, billed as data in.
        let usage = Usage {
            hours: 1.0,
            records: 1_048_576.0,
            record_size: 1536.0,
            consumers: 2,
            unused_commitment_gb: 10.0,
            ..Usage::default()
        };
        let c = cost(Billing::Advantage, &usage, &Prices::default());
        assert!(close(c.capacity_usd, 0.32), "{c:?}");
        assert!(close(c.data_usd, 0.064 + 0.064), "{c:?}");
        assert!(close(c.total(), 0.448), "{c:?}");
        // Warm throughput, if AWS bills it: 40 MiB/s for 1 hour at $0.001.
        let warm = Prices {
            advantage_warm_mib_hour: 0.001,
            ..Prices::default()
        };
        let held = Usage {
            warm_mib_hours: 40.0,
            ..usage
        };
        assert!(close(
            cost(Billing::Advantage, &held, &warm).capacity_usd,
            0.32 + 0.04
        ));
    }

    #[test]
    fn the_commitment_bills_each_hour_that_wrote_less_than_it() {
        let prices = Prices::default();
        // 25 MiB/s for an hour: 87.890625 GB.
        let hour = prices.committed_gb_per_hour();
        assert!(close(hour, 25.0 * 3600.0 / 1024.0));
        // An hour writing 100 GB leaves nothing unwritten; one writing 60
        // GB leaves the rest; a last half hour commits half as much.
        let mut minutes = vec![100.0 / 60.0; 60];
        minutes.extend(vec![1.0; 60]);
        minutes.extend(vec![0.0; 30]);
        let unused = unused_commitment_gb(&minutes, hour);
        assert!(close(unused, (hour - 60.0) + hour / 2.0), "{unused}");
        // A stream that carries a quarter of the account's commitment.
        let shared = Prices {
            advantage_commitment_share: 0.25,
            ..prices
        };
        assert!(close(shared.committed_gb_per_hour(), hour / 4.0));
    }

    #[test]
    fn enhanced_fan_out_bills_consumer_shard_hours_and_retrievals() {
        // 4 shard-hours, 1 GiB of 1 KiB records, 2 enhanced fan-out
        // consumers: 2 x (4 x $0.015 + 1 GB x $0.013).
        let usage = Usage {
            hours: 1.0,
            shard_hours: 4.0,
            records: 1_048_576.0,
            record_size: 1024.0,
            efo_consumers: 2,
            ..Usage::default()
        };
        let prices = Prices::default();
        let c = cost(Billing::Provisioned, &usage, &prices);
        assert!(close(c.fan_out_usd, 2.0 * (0.06 + 0.013)), "{c:?}");
        assert!(close(c.total(), c.capacity_usd + c.data_usd + 0.146));
        // On-Demand bills only the GB each retrieves, at its own rates.
        let c = cost(Billing::OnDemand, &usage, &prices);
        assert!(close(c.fan_out_usd, 2.0 * 0.05), "{c:?}");
        let c = cost(Billing::Advantage, &usage, &prices);
        assert!(close(c.fan_out_usd, 2.0 * 0.016), "{c:?}");
    }

    #[test]
    fn the_controller_pays_for_its_metrics_reads_and_host() {
        // 3 shard-level metrics on 4 shards for 730 hours: 12 metric-months.
        let usage = Usage {
            hours: 730.0,
            shard_hours: 4.0 * 730.0,
            metric_hours: 3.0 * 4.0 * 730.0,
            metrics_requested: 2_000_000.0,
            passes_per_hour: 60.0,
            ..Usage::default()
        };
        let prices = Prices {
            controller_hour: 0.01,
            ..Prices::default()
        };
        let c = cost(Billing::Provisioned, &usage, &prices);
        assert!(close(c.shard_metrics_usd, 12.0 * 0.30), "{c:?}");
        assert!(close(c.metric_requests_usd, 20.0), "{c:?}");
        assert!(close(c.controller_usd, 7.3), "{c:?}");
        assert!(
            close(c.total(), c.capacity_usd + c.data_usd + 3.6 + 20.0 + 7.3),
            "{c:?}"
        );
    }

    #[test]
    fn metrics_are_billed_by_tier_on_top_of_the_account_s_others() {
        let prices = Prices::default();
        // 105,192 metrics alone: 10,000 at $0.30 and 95,192 at $0.10.
        assert!(close(
            prices.metrics_per_month(105_192.0),
            3_000.0 + 9_519.2
        ));
        // An account with 5,000 metrics already: 5,000 at $0.30, then $0.10.
        let busy = Prices {
            account_metrics: 5_000.0,
            ..Prices::default()
        };
        assert!(close(busy.metrics_per_month(10_000.0), 1_500.0 + 500.0));
        // Past a million, $0.02.
        let huge = Prices {
            account_metrics: 1_000_000.0,
            ..Prices::default()
        };
        assert!(close(huge.metrics_per_month(100.0), 2.0));
        // 240 metric-hours over 24 hours of 730: 10 metrics for a day.
        let usage = Usage {
            hours: 24.0,
            metric_hours: 240.0,
            ..Usage::default()
        };
        let c = cost(Billing::Provisioned, &usage, &prices);
        assert!(
            close(c.shard_metrics_usd, 10.0 * 0.30 * 24.0 / 730.0),
            "{c:?}"
        );
    }
}
