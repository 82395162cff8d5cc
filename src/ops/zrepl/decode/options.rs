//! Option blocks of active and passive jobs: `send`, `recv`,
//! `replication`, `conflict_resolution`. All optional; zrepl fills in
//! defaults, so we only check what is written.

use std::collections::BTreeMap;

use serde_yaml_ng::Value;

use super::{Decoder, Fields, join, kind, one_of};
use crate::ops::zrepl::model::*;
use crate::ops::zrepl::{names, syntax};

pub(crate) fn decode_send(d: &mut Decoder, v: &Value, path: &str) -> Option<SendOptions> {
    let allowed = &[
        "encrypted",
        "raw",
        "send_properties",
        "backup_properties",
        "large_blocks",
        "compressed",
        "embedded_data",
        "saved",
        "bandwidth_limit",
    ];
    let f = d.object(v, path, "send options", allowed)?;
    Some(SendOptions {
        encrypted: d.opt_bool(&f, "encrypted"),
        raw: d.opt_bool(&f, "raw"),
        send_properties: d.opt_bool(&f, "send_properties"),
        backup_properties: d.opt_bool(&f, "backup_properties"),
        large_blocks: d.opt_bool(&f, "large_blocks"),
        compressed: d.opt_bool(&f, "compressed"),
        embedded_data: d.opt_bool(&f, "embedded_data"),
        saved: d.opt_bool(&f, "saved"),
        bandwidth_limit: bandwidth(d, &f),
    })
}

pub(crate) fn decode_recv(d: &mut Decoder, v: &Value, path: &str) -> Option<RecvOptions> {
    let f = d.object(
        v,
        path,
        "recv options",
        &["properties", "bandwidth_limit", "placeholder"],
    )?;
    let properties = f.get("properties").and_then(|v| {
        let p = d.object(
            v,
            &f.at("properties"),
            "recv properties",
            &["inherit", "override"],
        )?;
        let inherit = p
            .get("inherit")
            .map(|v| d.str_list(v, &p.at("inherit"), "inherit"));
        let override_ = p
            .get("override")
            .map(|v| string_map(d, v, &p.at("override"), "override"));
        let names_in_use = inherit
            .iter()
            .flatten()
            .chain(override_.iter().flat_map(|m| m.keys()));
        for name in names_in_use {
            if let Err(e) = names::check_property(name) {
                d.error(&f.at("properties"), e);
            }
        }
        Some(RecvProperties { inherit, override_ })
    });
    let placeholder = f.get("placeholder").and_then(|v| {
        let p = d.object(
            v,
            &f.at("placeholder"),
            "placeholder options",
            &["encryption"],
        )?;
        let encryption = d.opt_str(&p, "encryption");
        one_of(
            d,
            &p,
            "encryption",
            encryption.as_deref(),
            &["unspecified", "inherit", "off"],
        );
        Some(Placeholder { encryption })
    });
    Some(RecvOptions {
        properties,
        bandwidth_limit: bandwidth(d, &f),
        placeholder,
    })
}

fn string_map(d: &mut Decoder, v: &Value, path: &str, key: &str) -> BTreeMap<String, String> {
    let mut out = BTreeMap::new();
    let Value::Mapping(m) = v else {
        d.error(path, format!("{key} must be a mapping, found {}", kind(v)));
        return out;
    };
    for (k, val) in m {
        match k.as_str() {
            Some(k) => {
                let s = d.nonempty_str(val, &format!("{path}[{k:?}]"), key);
                out.insert(k.to_string(), s);
            }
            None => d.error(path, format!("{key} has a non-text key {}", kind(k))),
        }
    }
    out
}

fn bandwidth(d: &mut Decoder, f: &Fields<'_>) -> Option<BandwidthLimit> {
    let v = f.get("bandwidth_limit")?;
    let path = f.at("bandwidth_limit");
    let b = d.object(v, &path, "bandwidth_limit", &["max", "bucket_capacity"])?;
    let max = d.opt_str(&b, "max");
    let bucket_capacity = d.opt_str(&b, "bucket_capacity");
    for (key, val) in [("max", &max), ("bucket_capacity", &bucket_capacity)] {
        if let Some(s) = val
            && let Err(e) = syntax::check_datasize(s)
        {
            d.error(&join(&path, key), format!("{key}: {e}"));
        }
    }
    Some(BandwidthLimit {
        max,
        bucket_capacity,
    })
}

pub(crate) fn decode_replication(d: &mut Decoder, v: &Value, path: &str) -> Option<Replication> {
    let f = d.object(
        v,
        path,
        "replication options",
        &["protection", "concurrency"],
    )?;
    let kinds = &[
        "guarantee_resumability",
        "guarantee_incremental",
        "guarantee_nothing",
    ];
    let protection = f.get("protection").and_then(|v| {
        let p = d.object(
            v,
            &f.at("protection"),
            "protection",
            &["initial", "incremental"],
        )?;
        let initial = d.opt_str(&p, "initial");
        let incremental = d.opt_str(&p, "incremental");
        one_of(d, &p, "initial", initial.as_deref(), kinds);
        one_of(d, &p, "incremental", incremental.as_deref(), kinds);
        Some(Protection {
            initial,
            incremental,
        })
    });
    let concurrency = f.get("concurrency").and_then(|v| {
        let c = d.object(
            v,
            &f.at("concurrency"),
            "concurrency",
            &["steps", "size_estimates"],
        )?;
        let steps = c
            .get("steps")
            .map(|v| d.positive_int(v, &c.at("steps"), "steps"));
        let size_estimates = c
            .get("size_estimates")
            .map(|v| d.positive_int(v, &c.at("size_estimates"), "size_estimates"));
        Some(Concurrency {
            steps,
            size_estimates,
        })
    });
    Some(Replication {
        protection,
        concurrency,
    })
}

pub(crate) fn decode_conflict_resolution(
    d: &mut Decoder,
    v: &Value,
    path: &str,
) -> Option<ConflictResolution> {
    let f = d.object(v, path, "conflict_resolution", &["initial_replication"])?;
    let initial_replication = d.opt_str(&f, "initial_replication");
    one_of(
        d,
        &f,
        "initial_replication",
        initial_replication.as_deref(),
        &["most_recent", "all", "fail"],
    );
    Some(ConflictResolution {
        initial_replication,
    })
}
