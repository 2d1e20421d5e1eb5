//! Periods, scopes, rule validation and the seed's tiers.
use super::*;

fn prices() -> PriceList {
    PriceList::from_json(
        r#"{"profiles": [{"prefix": "eu.", "surchargePercent": 10}],
            "models": [{"id": "vendor.big-1", "family": "big", "name": "Big", "regionalSurcharge": true,
                        "perMillion": {"input": 3, "output": 15}}]}"#,
    )
    .unwrap()
}

#[test]
fn windows_are_keyed_by_their_period_and_reset_at_utc_boundaries() {
    let at: Timestamp = "2026-11-30T23:59:59.999Z".parse().unwrap();
    let day = Period::Day.window(at);
    assert_eq!(day.key, "day:2026-11-30");
    assert_eq!(day.resets_at, Some("2026-12-01T00:00:00.000Z".parse().unwrap()));
    let month = Period::Month.window(at);
    assert_eq!(month.key, "month:2026-11");
    assert_eq!(month.resets_at, Some("2026-12-01T00:00:00.000Z".parse().unwrap()));
    assert_eq!(Period::Total.window(at), Window { key: "total".into(), resets_at: None });
    let next_day = Period::Day.window("2026-12-01T00:00:00.000Z".parse().unwrap());
    assert_eq!(next_day.key, "day:2026-12-01");
}

#[test]
fn scopes_match_families_profiles_and_exact_ids() {
    let prices = prices();
    let family = ModelScope::parse("model", "BIG", &prices).unwrap();
    assert_eq!(family, ModelScope::Family("big".into()));
    assert!(family.covers("eu.vendor.big-1", &prices));
    let exact = ModelScope::parse("model", "vendor.big-1", &prices).unwrap();
    assert!(exact.covers("eu.vendor.big-1", &prices));
    assert!(!exact.covers("vendor.other", &prices));
    assert!(ModelScope::parse("model", "nope", &prices).unwrap_err().reason.contains("big"));
}

#[test]
fn rules_are_validated_with_the_field_named() {
    let prices = prices();
    let cost = QuotaRule::parse(Metric::Cost, Period::Day, 5.25, None, &prices).unwrap();
    assert_eq!(cost.limit, 5_250_000_000);
    assert_eq!(cost.to_string(), "$5.25 per day");
    for (metric, limit) in [(Metric::Tokens, 0.5), (Metric::Requests, 0.0), (Metric::Cost, 0.0000001)] {
        let err = QuotaRule::parse(metric, Period::Day, limit, None, &prices).unwrap_err();
        assert_eq!(err.field, "limit");
    }
    let many = vec![cost; MAX_RULES + 1];
    assert_eq!(check_rules(&many).unwrap_err().field, "quotas");
    assert!(check_rules(&many[..2]).is_ok(), "a repeated rule is redundant, not wrong: the tighter binds");
}

#[test]
fn the_default_tiers_are_the_seeds() {
    let tiers = default_tiers();
    let names: Vec<_> = tiers.iter().map(|t| t.name.as_str()).collect();
    assert_eq!(names, ["free", "pro", "guest"]);
    let free: Vec<String> = tiers[0].rules.iter().map(ToString::to_string).collect();
    assert_eq!(
        free,
        [
            "500 requests per day",
            "100000 tokens per day",
            "$5.00 per day",
            "5000 requests per month",
            "1000000 tokens per month",
            "$50.00 per month"
        ]
    );
    assert_eq!(tiers[1].rules[1].limit, 1_000_000);
    assert_eq!(tiers[2].rules[0].to_string(), "50 requests per day");
}
