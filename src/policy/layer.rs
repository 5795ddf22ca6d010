//! Layering: a stream's settings are its entry's, over `defaults`, over
//! the built-in values, field by field.

use super::file::{ScaleDownSettings, ScaleUpSettings, Settings};
use super::{ScaleDown, ScaleUp, StreamPolicy};

impl StreamPolicy {
    /// These settings with every field that `layer` sets replaced.
    pub(super) fn overridden_by(&self, layer: &Settings) -> StreamPolicy {
        let mut p = self.clone();
        set(&mut p.min_shards, layer.min_shards.map(|v| v.0));
        set(&mut p.max_shards, layer.max_shards.map(|v| v.0));
        set(&mut p.max_reshards_per_day, layer.max_reshards_per_day);
        if let Some(m) = &layer.metrics {
            set(&mut p.metrics_delay, m.delay.map(|v| v.0));
            set(&mut p.metrics_max_lag, m.max_lag.map(|v| v.0));
            set(&mut p.silent_stream, m.silent_stream);
            set(&mut p.shard_refresh, m.shard_refresh.map(|v| v.0));
            set(&mut p.shard_level, m.shard_level);
            set(&mut p.shard_calm, m.shard_calm.map(|v| v.0));
        }
        if let Some(up) = &layer.scale_up {
            scale_up(&mut p.scale_up, up);
        }
        if let Some(down) = &layer.scale_down {
            scale_down(&mut p.scale_down, down);
        }
        if let Some(read) = &layer.read {
            set(&mut p.read.enabled, read.enabled);
            set(&mut p.read.threshold, read.threshold.map(|v| v.0));
        }
        optional_rules(&mut p, layer);
        set(
            &mut p.enable_enhanced_monitoring,
            layer.enable_enhanced_monitoring,
        );
        p
    }
}

/// Layers `up` over the scale-up settings `s`.
fn scale_up(s: &mut ScaleUp, up: &ScaleUpSettings) {
    set(&mut s.threshold, up.threshold.map(|v| v.0));
    set(&mut s.window_minutes, up.window.map(|v| v.0));
    set(&mut s.sustain_minutes, up.sustain.map(|v| v.0));
    set(&mut s.throttled_records, up.throttled_records);
    set(&mut s.cooldown, up.cooldown.map(|v| v.0));
    set(&mut s.max_splits_per_run, up.max_splits_per_run);
    set(&mut s.split_at, up.split_at);
    set(&mut s.hot_key_share, up.hot_key_share.map(|v| v.0));
    if let Some(sample) = &up.sample {
        set(&mut s.sample.duration, sample.duration.map(|v| v.0));
        set(&mut s.sample.max_shards, sample.max_shards);
        set(&mut s.sample.min_records, sample.min_records);
    }
}

/// Layers `down` over the scale-down settings `s`.
fn scale_down(s: &mut ScaleDown, down: &ScaleDownSettings) {
    set(&mut s.threshold, down.threshold.map(|v| v.0));
    set(&mut s.window_minutes, down.window.map(|v| v.0));
    set(&mut s.merged_ceiling, down.merged_ceiling.map(|v| v.0));
    set(&mut s.cooldown, down.cooldown.map(|v| v.0));
    set(&mut s.min_lifetime, down.min_lifetime.map(|v| v.0));
    set(&mut s.max_merges_per_run, down.max_merges_per_run);
    set(&mut s.max_missing, down.max_missing.map(|v| v.0));
    if let Some(e) = &down.economic {
        switch(&mut s.economic, e.enabled, |economic| {
            set(&mut economic.reshard_cost, e.reshard_cost);
            set(&mut economic.min_window_minutes, e.min_window.map(|v| v.0));
            set(&mut economic.history_minutes, e.history.map(|v| v.0));
        });
    }
}

/// Layers the optional rules (forecast, warm throughput, objective,
/// consumers) of `layer` over `p`'s: `enabled: false` turns one off, any
/// other setting turns it on over its defaults.
fn optional_rules(p: &mut StreamPolicy, layer: &Settings) {
    if let Some(f) = &layer.forecast {
        switch(&mut p.forecast, f.enabled, |forecast| {
            if let Some(seasons) = &f.seasons {
                forecast.seasons = seasons.iter().map(|m| m.0).collect();
            }
            set(&mut forecast.horizon_minutes, f.horizon.map(|v| v.0));
            set(&mut forecast.lead_minutes, f.lead.map(|v| v.0));
        });
    }
    if let Some(w) = &layer.warm_throughput {
        switch(&mut p.warm_throughput, w.enabled, |warm| {
            set(&mut warm.lead_minutes, w.lead.map(|v| v.0));
            set(&mut warm.headroom, w.headroom);
            set(&mut warm.min_mib, w.min_mib);
            set(&mut warm.max_mib, w.max_mib);
        });
    }
    if let Some(o) = &layer.objective {
        switch(&mut p.objective, o.enabled, |objective| {
            set(&mut objective.max_throttled, o.max_throttled.map(|v| v.0));
            set(&mut objective.history_minutes, o.history.map(|v| v.0));
        });
    }
    if let Some(c) = &layer.consumers {
        switch(&mut p.consumers, c.enabled, |consumers| {
            set(
                &mut consumers.max_iterator_age,
                c.max_iterator_age.map(|v| v.0),
            );
            set(&mut consumers.scale_up_on_lag, c.scale_up_on_lag);
            set(&mut consumers.read_threshold, c.read_threshold.map(|v| v.0));
        });
    }
}

/// An optional rule as a layer leaves it: off with `enabled: false`,
/// otherwise on (over its defaults, if it was off) with `layer` applied.
fn switch<T: Default>(rule: &mut Option<T>, enabled: Option<bool>, layer: impl FnOnce(&mut T)) {
    *rule = match enabled {
        Some(false) => None,
        _ => {
            let mut on = rule.take().unwrap_or_default();
            layer(&mut on);
            Some(on)
        }
    };
}

fn set<T>(field: &mut T, value: Option<T>) {
    if let Some(v) = value {
        *field = v;
    }
}
