//! The Analytics page: its figures are the service's report (by model too), the range picker
//! changes the request, the log pages, the CSV export holds the report's series; a user's dashboard charts
//! their own usage.

use std::{num::NonZeroU64, time::Instant};

use fantoccini::Locator;
use tokenmeter_client::{
    figures::{grouped as tokens, money},
    types::{GranularityName, InvokeRequest, UsageReportView},
};

use super::{
    driver::{Browser, ONE_BROWSER, PATIENCE, built_web_app, open_browser},
    user::user_with_key,
};
use crate::helpers::{ADMIN_KEY, TestApp, ask};

/// A second model, so that the charts by model have two colours.
const HAIKU: &str = "global.anthropic.claude-haiku-4-5-20251001-v1:0";

/// The report the page asks for: everyone's (or `user`'s) over `hours`, by the hour or day.
async fn report(app: &TestApp, hours: u64, user: Option<&str>) -> UsageReportView {
    let granularity = if hours == 24 { GranularityName::Hour } else { GranularityName::Day };
    app.client.usage_report(Some(granularity), NonZeroU64::new(hours), None, user).await.unwrap().into_inner()
}

/// `%XX` escapes decoded (what `encodeURIComponent` wrote).
fn percent_decode(text: &str) -> String {
    let bytes = text.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%' {
            out.push(u8::from_str_radix(&text[i + 1..i + 3], 16).unwrap());
            i += 3;
        } else {
            out.push(bytes[i]);
            i += 1;
        }
    }
    String::from_utf8(out).unwrap()
}

/// The attribute `name` of the first match of `css`, once it satisfies `ok`.
async fn wait_attr(browser: &Browser, css: &str, name: &str, ok: impl Fn(&str) -> bool) -> String {
    let started = Instant::now();
    loop {
        if let Ok(element) = browser.c.find(Locator::Css(css)).await
            && let Ok(Some(value)) = element.attr(name).await
            && ok(&value)
        {
            return value;
        }
        assert!(started.elapsed() < PATIENCE, "{css} [{name}] is not as expected after {PATIENCE:?}");
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
}

/// The `data-event` IDs of the log's rows, once there are `count` of them.
async fn log_rows(browser: &Browser, count: usize) -> Vec<String> {
    let started = Instant::now();
    loop {
        let rows = browser.c.find_all(Locator::Css("[data-testid=log] tr[data-event]")).await.unwrap();
        if rows.len() == count {
            let mut ids = Vec::new();
            for row in rows {
                ids.push(row.attr("data-event").await.unwrap().unwrap());
            }
            return ids;
        }
        assert!(started.elapsed() < PATIENCE, "the log shows {} rows, expected {count}", rows.len());
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
}

/// The CSV export's lines, once it holds `rows` buckets.
async fn csv_lines(browser: &Browser, rows: usize) -> Vec<String> {
    let prefix = "data:text/csv;charset=utf-8,";
    let href = wait_attr(browser, "[data-testid=csv]", "href", |h| {
        h.starts_with(prefix) && percent_decode(&h[prefix.len()..]).lines().count() == rows + 1
    })
    .await;
    percent_decode(&href[prefix.len()..]).lines().map(str::to_owned).collect()
}

#[tokio::test]
async fn an_admin_reads_the_report_as_analytics_and_a_user_charts_their_own_usage() {
    if !crate::suites::available(crate::suites::Suite::Browser) {
        return;
    }
    let _one = ONE_BROWSER.lock().await;
    let app = TestApp::builder().web(&built_web_app()).spawn().await;
    let kim = user_with_key(&app, "kim", 100_000).await;
    let lee = user_with_key(&app, "lee", 100_000).await;
    for _ in 0..8 {
        app.client_with(&kim).invoke_model("kim", None, &ask("hello there world")).await.unwrap();
    }
    for _ in 0..4 {
        let haiku = InvokeRequest { model: Some(HAIKU.into()), ..ask("hi") };
        app.client_with(&lee).invoke_model("lee", None, &haiku).await.unwrap();
    }
    let day = report(&app, 24, None).await;
    assert_eq!(day.invocations, 12);

    let browser = open_browser(&app).await;
    browser.sign_in(ADMIN_KEY).await;
    browser.click("a[href='/admin/analytics']").await;
    browser.wait_title("Analytics · tokenmeter").await;
    let stat = |id: &str| format!("[data-testid={id}]");
    browser.wait_text(&stat("a-invocations"), PATIENCE, |t| t == tokens(day.invocations)).await;
    browser.wait_text(&stat("a-input"), PATIENCE, |t| t == tokens(day.input_tokens)).await;
    browser.wait_text(&stat("a-output"), PATIENCE, |t| t == tokens(day.output_tokens)).await;
    browser.wait_text(&stat("a-cost"), PATIENCE, |t| t == money(day.cost)).await;
    browser.wait_text(&stat("a-errors"), PATIENCE, |t| t == "0%").await;
    // The projection runs on with the clock: at least what the range has cost, in dollars.
    let at_least = |t: &str| t.strip_prefix('$').and_then(|v| v.parse::<f64>().ok()).is_some_and(|v| v >= day.cost);
    browser.wait_text(&stat("a-projection"), PATIENCE, at_least).await;
    // A chart per measure, a bar per hour of the report.
    let buckets = day.series.len().to_string();
    for chart in ["chart-invocations", "chart-tokens", "chart-cost"] {
        wait_attr(&browser, &stat(chart), "data-buckets", |n| n == buckets).await;
    }
    // Two models: a row each, and a colour each in the charts by model, whose totals are theirs.
    assert_eq!(day.by_model.len(), 2, "Sonnet for kim, Haiku for lee: {:?}", day.by_model);
    for model in &day.by_model {
        let row = format!("[data-testid=by-model] tr[data-model='{}']", model.model);
        browser.wait_text(&row, PATIENCE, |t| t.contains(&money(model.cost))).await;
    }
    for chart in ["chart-model-invocations", "chart-model-tokens", "chart-model-cost"] {
        wait_attr(&browser, &stat(chart), "data-buckets", |n| n == buckets).await;
    }
    let summary = wait_attr(&browser, "[data-testid=chart-model-cost] [role=img]", "aria-label", |_| true).await;
    for model in &day.by_model {
        let name = model.family.clone().unwrap_or_else(|| model.model.clone());
        let total = format!("{name} {}", money(model.cost));
        assert!(summary.contains(&total), "the cost by model names {total:?}: {summary}");
    }
    // Kim's eight calls cost more than Lee's four.
    browser.wait_text("[data-testid=top-users] tbody tr:first-child", PATIENCE, |t| t.starts_with("kim")).await;
    browser.wait_text("[data-testid=alerts]", PATIENCE, |t| t.contains("No alert is firing.")).await;

    // The CSV export: the header, then the report's series, bucket by bucket.
    let lines = csv_lines(&browser, day.series.len()).await;
    assert_eq!(lines[0], "start,invocations,errors,input_tokens,output_tokens,cost_usd");
    for (line, point) in lines[1..].iter().zip(&day.series) {
        let expected = format!(
            "{},{},{},{},{},{:.6}",
            point.start, point.invocations, point.errors, point.input_tokens, point.output_tokens, point.cost
        );
        assert_eq!(line, &expected);
    }
    let name = wait_attr(&browser, &stat("csv"), "download", |_| true).await;
    assert!(name.starts_with("tokenmeter-usage-24h-") && name.ends_with(".csv"), "{name}");

    // The log: ten events a page, newest first; "Older" follows nextBefore.
    let first = log_rows(&browser, 10).await;
    browser.look("analytics").await;
    browser.click("[data-testid=log-older]").await;
    let older = log_rows(&browser, 2).await;
    assert!(older.iter().all(|id| !first.contains(id)) && older.iter().all(|id| id < &first[9]), "{older:?}");
    browser.click("[data-testid=log-newest]").await;
    assert_eq!(log_rows(&browser, 10).await, first);

    // 7 days: the page asks for days.
    let week = report(&app, 168, None).await;
    // The range picker is at the top, under the sticky navbar once scrolled past.
    browser.c.execute("window.scrollTo(0, 0)", vec![]).await.unwrap();
    browser.click("[data-range='7d']").await;
    let days = week.series.len().to_string();
    wait_attr(&browser, &stat("chart-tokens"), "data-buckets", |n| n == days).await;
    assert_eq!(csv_lines(&browser, week.series.len()).await.len(), week.series.len() + 1);
    assert!((7..=8).contains(&week.series.len()), "{} day buckets", week.series.len());
    // The time axis reads in days (`19 Jan`), not hours.
    let months = ["Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"];
    let first_day = browser.wait_text("[data-testid=chart-tokens] .chart-x span", PATIENCE, |_| true).await;
    assert!(months.iter().any(|m| first_day.ends_with(m)), "{first_day}");
    let name = wait_attr(&browser, &stat("csv"), "download", |n| n.contains("-7d-")).await;
    assert!(name.starts_with("tokenmeter-usage-7d-"), "{name}");
    browser.wait_text(&stat("a-invocations"), PATIENCE, |t| t == tokens(week.invocations)).await;
    browser.look("analytics-7d").await;

    // A user sees their own usage over time, and not the Analytics page.
    browser.click("[data-testid=sign-out]").await;
    browser.sign_in(&kim).await;
    let own = report(&app, 24, Some("kim")).await;
    assert_eq!(own.invocations, 8);
    let totals = format!(
        "{} calls · {} tokens in, {} out · {}",
        tokens(own.invocations),
        tokens(own.input_tokens),
        tokens(own.output_tokens),
        money(own.cost)
    );
    browser.wait_text("[data-testid=own-usage-totals]", PATIENCE, |t| t == totals).await;
    wait_attr(&browser, "[data-testid=chart-tokens]", "data-buckets", |n| n == own.series.len().to_string()).await;
    browser.look("dashboard-usage-chart").await;
    browser.goto("/admin/analytics").await;
    browser.wait_text(".alert", PATIENCE, |t| t.contains("This page is for administrators.")).await;
}
