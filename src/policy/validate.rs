//! The checks a resolved stream policy must pass as a whole: bounds on
//! every duration and count, and the combinations no stream can satisfy.
//! Each problem names its field and what to do.

use super::*;

impl StreamPolicy {
    /// The combinations no stream can satisfy, each as `field: what is wrong`.
    pub(super) fn problems(&self) -> Vec<String> {
        let mut out = Vec::new();
        self.bounds(&mut out);
        self.sampling(&mut out);
        self.forecasting(&mut out);
        self.economic_and_consumers(&mut out);
        self.combinations(&mut out);
        out
    }

    /// The bounds on every window and duration: a window longer than a day
    /// fetches more metrics per pass than it can be worth, and absurd
    /// durations overflow times.
    fn bounds(&self, out: &mut Vec<String>) {
        for (field, minutes) in [
            ("scale_up.window", self.scale_up.window_minutes),
            ("scale_down.window", self.scale_down.window_minutes),
        ] {
            if minutes > MAX_WINDOW_MINUTES {
                out.push(format!(
                    "{field}: {minutes}m is longer than the longest window, 1d"
                ));
            }
        }
        for (field, span, max) in [
            ("metrics.delay", self.metrics_delay, MAX_DELAY),
            ("metrics.max_lag", self.metrics_max_lag, MAX_DELAY),
            ("scale_up.cooldown", self.scale_up.cooldown, MAX_COOLDOWN),
            (
                "scale_down.cooldown",
                self.scale_down.cooldown,
                MAX_COOLDOWN,
            ),
            (
                "scale_down.min_lifetime",
                self.scale_down.min_lifetime,
                MAX_COOLDOWN,
            ),
        ] {
            if span > max {
                out.push(format!(
                    "{field}: {} is longer than the longest allowed, {}",
                    humantime::format_duration(span),
                    humantime::format_duration(max)
                ));
            }
        }
        if !(Duration::from_secs(60)..=Duration::from_secs(86_400)).contains(&self.shard_refresh) {
            out.push(format!(
            "metrics.shard_refresh: {} is outside 1m..1d; shares older than a day say little, and reads more often than a pass are not made",
            humantime::format_duration(self.shard_refresh)
        ));
        }
        if !(Duration::from_secs(300)..=Duration::from_secs(86_400)).contains(&self.shard_calm) {
            out.push(format!(
            "metrics.shard_calm: {} is outside 5m..1d; CloudWatch bills a metric for every hour it is published in, so metrics turned off and on within minutes cost more, not less",
            humantime::format_duration(self.shard_calm)
        ));
        }
    }

    /// The partition-key sample `split_at: traffic` takes.
    fn sampling(&self, out: &mut Vec<String>) {
        let sample = &self.scale_up.sample;
        if !(Duration::from_secs(1)..=Duration::from_secs(60)).contains(&sample.duration) {
            out.push(format!(
                "scale_up.sample.duration: {} is outside 1s..1m; a pass waits for its samples",
                humantime::format_duration(sample.duration)
            ));
        }
        if sample.max_shards == 0 {
            out.push(
                "scale_up.sample.max_shards: must be at least 1 (or use split_at: midpoint)".into(),
            );
        }
        if sample.min_records == 0 {
            out.push("scale_up.sample.min_records: must be at least 1".into());
        }
    }

    /// The forecast, the warm throughput that follows it, and the objective's
    /// history.
    fn forecasting(&self, out: &mut Vec<String>) {
        if let Some(f) = &self.forecast {
            if f.seasons.is_empty() {
                out.push("forecast.seasons: is empty; name at least one, such as [1d, 7d], or set forecast.enabled: false".into());
            }
            let ahead = self.fetch_minutes() + f.horizon_minutes;
            for &s in &f.seasons {
                if !(60..=MAX_SEASON_MINUTES).contains(&s) {
                    out.push(format!(
                    "forecast.seasons: {}m is outside 1h..14d (CloudWatch keeps per-minute data for 15 days)",
                    s
                ));
                } else if s < ahead {
                    out.push(format!(
                    "forecast.seasons: {s}m is shorter than the minutes a pass reads ({}m) plus forecast.horizon ({}m): one season back, the horizon has not happened yet; use a longer season or a shorter horizon",
                    self.fetch_minutes(),
                    f.horizon_minutes
                ));
                }
            }
            if f.horizon_minutes > MAX_HORIZON_MINUTES {
                out.push(format!(
                    "forecast.horizon: {}m is longer than the longest horizon, 6h",
                    f.horizon_minutes
                ));
            }
            if f.lead_minutes > f.horizon_minutes {
                out.push(format!(
                "forecast.lead: {}m is longer than forecast.horizon {}m; the forecast cannot see that far",
                f.lead_minutes, f.horizon_minutes
            ));
            }
        }
        if let Some(w) = &self.warm_throughput {
            match &self.forecast {
            None => out.push(
                "warm_throughput: needs forecast (the peak ahead comes from it); add forecast: {} or set warm_throughput.enabled: false".into(),
            ),
            Some(f) if w.lead_minutes > f.horizon_minutes => out.push(format!(
                "warm_throughput.lead: {}m is longer than forecast.horizon {}m; the forecast cannot see that far",
                w.lead_minutes, f.horizon_minutes
            )),
            Some(_) => {}
        }
            if !(1.0..=4.0).contains(&w.headroom) {
                out.push(format!(
                    "warm_throughput.headroom: must be a multiple of the peak in [1, 4], got {}",
                    w.headroom
                ));
            }
            if w.max_mib > MAX_WARM_MIB {
                out.push(format!(
                "warm_throughput.max_mib: {} is more than UpdateStreamWarmThroughput allows ({MAX_WARM_MIB} MiB/s, 10 GiB/s)",
                w.max_mib
            ));
            }
            if w.min_mib > w.max_mib {
                out.push(format!(
                "warm_throughput.min_mib: {} is above max_mib {}; lower min_mib or raise max_mib",
                w.min_mib, w.max_mib
            ));
            }
        }
        if let Some(o) = &self.objective
            && !(60..=MAX_SEASON_MINUTES).contains(&o.history_minutes)
        {
            out.push(format!(
            "objective.history: {}m is outside 1h..14d (CloudWatch keeps per-minute data for 15 days)",
            o.history_minutes
        ));
        }
    }

    /// The economic scale-down's costs and windows, and the consumers' lag bound.
    fn economic_and_consumers(&self, out: &mut Vec<String>) {
        if let Some(e) = &self.scale_down.economic {
            if !(0.0..=100.0).contains(&e.reshard_cost) {
                out.push(format!(
                "scale_down.economic.reshard_cost: {} is outside 0..100 (US dollars a split or merge costs you)",
                e.reshard_cost
            ));
            }
            if !(5..=self.scale_down.window_minutes.max(5)).contains(&e.min_window_minutes) {
                out.push(format!(
                "scale_down.economic.min_window: {}m is outside 5m..scale_down.window ({}m); the window is the longest quiet time it may choose",
                e.min_window_minutes, self.scale_down.window_minutes
            ));
            }
            if !(360..=MAX_SEASON_MINUTES).contains(&e.history_minutes) {
                out.push(format!(
                "scale_down.economic.history: {}m is outside 6h..14d (CloudWatch keeps per-minute data for 15 days)",
                e.history_minutes
            ));
            }
        }
        if let Some(c) = &self.consumers
            && !(Duration::from_secs(1)..=MAX_ITERATOR_AGE).contains(&c.max_iterator_age)
        {
            out.push(format!(
                "consumers.max_iterator_age: {} is outside 1s..7d",
                humantime::format_duration(c.max_iterator_age)
            ));
        }
    }

    /// The settings that contradict each other.
    fn combinations(&self, out: &mut Vec<String>) {
        if self.metrics_max_lag < self.metrics_delay {
            out.push(format!(
            "metrics.max_lag: {} is shorter than metrics.delay {}; no datapoint could ever be recent enough",
            humantime::format_duration(self.metrics_max_lag),
            humantime::format_duration(self.metrics_delay)
        ));
        }
        if self.max_shards > crate::model::MAX_SHARDS_PER_STREAM {
            out.push(format!(
            "max_shards: {} is more than a stream may hold ({}, AWS's per-stream maximum); lower it",
            self.max_shards,
            crate::model::MAX_SHARDS_PER_STREAM
        ));
        }
        if self.min_shards > self.max_shards {
            out.push(format!(
                "min_shards: {} is above max_shards {}; lower min_shards or raise max_shards",
                self.min_shards, self.max_shards
            ));
        }
        if self.scale_up.sustain_minutes > self.scale_up.window_minutes {
            out.push(format!(
            "scale_up.sustain: {}m is longer than scale_up.window {}m; a shard could never be hot",
            self.scale_up.sustain_minutes, self.scale_up.window_minutes
        ));
        }
        if self.scale_down.merged_ceiling >= self.scale_up.threshold {
            out.push(format!(
            "scale_down.merged_ceiling: {} must be below scale_up.threshold {}, or a merged pair would be split again (flapping)",
            self.scale_down.merged_ceiling, self.scale_up.threshold
        ));
        }
        if self.scale_down.threshold >= self.scale_up.threshold {
            out.push(format!(
            "scale_down.threshold: {} must be below scale_up.threshold {}, or a shard could be hot and cold at once",
            self.scale_down.threshold, self.scale_up.threshold
        ));
        }
    }
}
