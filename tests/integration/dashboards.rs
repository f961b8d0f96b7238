//! The monitoring files the hosts provision: the Grafana dashboards
//! (`terraform/modules/monitoring/dashboards/*.json`), the Elasticsearch ingest pipeline and the
//! Kibana data view. Every PromQL expression is parsed by a real PromQL parser and may name only
//! the JTL exporter's metrics and node_exporter's; the panels a team relies on are there; the
//! pipeline reads JMeter's CSV columns in JMeter's own order.
//!
//! Pure file checks: no Grafana, Prometheus or Elasticsearch runs here.

use crate::support::repo_root;
use promql_parser::label::MatchOp;
use promql_parser::parser::{self, Expr, LabelModifier, VectorSelector};
use serde_json::Value;
use std::collections::BTreeSet;
use std::path::PathBuf;

/// The JTL exporter's metrics (a histogram's series are its `_bucket`, `_sum` and `_count`).
const JMETER_METRICS: [&str; 6] = [
    "jmeter_samples_total",
    "jmeter_response_time_seconds_bucket",
    "jmeter_response_time_seconds_sum",
    "jmeter_response_time_seconds_count",
    "jmeter_active_threads",
    "jmeter_test_running",
];

/// node_exporter's standard metrics the host dashboard may use (default collectors: cpu,
/// loadavg, meminfo, netdev, netstat, sockstat, diskstats, filesystem, uname).
const NODE_EXPORTER_METRICS: [&str; 20] = [
    "node_cpu_seconds_total",
    "node_load1",
    "node_load5",
    "node_load15",
    "node_memory_MemAvailable_bytes",
    "node_memory_MemTotal_bytes",
    "node_network_receive_bytes_total",
    "node_network_transmit_bytes_total",
    "node_network_receive_errs_total",
    "node_network_transmit_errs_total",
    "node_network_receive_drop_total",
    "node_network_transmit_drop_total",
    "node_netstat_Tcp_CurrEstab",
    "node_netstat_Tcp_RetransSegs",
    "node_sockstat_TCP_tw",
    "node_disk_io_time_seconds_total",
    "node_disk_read_bytes_total",
    "node_disk_written_bytes_total",
    "node_filesystem_avail_bytes",
    "node_filesystem_size_bytes",
];

/// `node_uname_info` only feeds the host variable's list.
const NODE_INFO_METRICS: [&str; 1] = ["node_uname_info"];

/// JMeter's CSV JTL columns as the hosts write them: JMeter's defaults with Hostname switched
/// on, in the order JMeter writes them (CSVSaveService: ... URL, Latency, Hostname, IdleTime,
/// Connect).
const JTL_COLUMNS: [&str; 18] = [
    "timeStamp",
    "elapsed",
    "label",
    "responseCode",
    "responseMessage",
    "threadName",
    "dataType",
    "success",
    "failureMessage",
    "bytes",
    "sentBytes",
    "grpThreads",
    "allThreads",
    "URL",
    "Latency",
    "Hostname",
    "IdleTime",
    "Connect",
];

fn monitoring_file(relative: &str) -> PathBuf {
    repo_root()
        .join("terraform/modules/monitoring")
        .join(relative)
}

fn read_json(relative: &str) -> Value {
    let path = monitoring_file(relative);
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    serde_json::from_str(&text).unwrap_or_else(|e| panic!("{} is not JSON: {e}", path.display()))
}

/// Grafana's variables replaced by values of the right kind, so the parser sees plain PromQL.
fn without_grafana_variables(expr: &str) -> String {
    let mut text = expr.to_string();
    for (variable, value) in [
        ("$__rate_interval", "1m"),
        ("$__interval", "15s"),
        ("$__range", "1h"),
        ("${test_id}", "42"),
        ("$test_id", "42"),
        ("${label}", "home|login"),
        ("$label", "home|login"),
        ("${instance}", "10.42.0.10:9100"),
        ("$instance", "10.42.0.10:9100"),
    ] {
        text = text.replace(variable, value);
    }
    assert!(
        !text.contains('$'),
        "an unknown Grafana variable is left in {expr:?}"
    );
    text
}

fn parse(expr: &str) -> Expr {
    let text = without_grafana_variables(expr);
    parser::parse(&text).unwrap_or_else(|e| panic!("not PromQL: {expr:?}: {e}"))
}

/// Calls `visit` for every node of the expression, parents before children (a matrix
/// selector is one node: [`selectors`] reads the vector selector inside it).
fn walk<'a>(expr: &'a Expr, visit: &mut dyn FnMut(&'a Expr)) {
    visit(expr);
    match expr {
        Expr::Aggregate(aggregate) => {
            walk(&aggregate.expr, visit);
            if let Some(param) = &aggregate.param {
                walk(param, visit);
            }
        }
        Expr::Unary(unary) => walk(&unary.expr, visit),
        Expr::Binary(binary) => {
            walk(&binary.lhs, visit);
            walk(&binary.rhs, visit);
        }
        Expr::Paren(paren) => walk(&paren.expr, visit),
        Expr::Subquery(subquery) => walk(&subquery.expr, visit),
        Expr::Call(call) => {
            for arg in &call.args.args {
                walk(arg, visit);
            }
        }
        _ => {}
    }
}

/// Every vector selector of the expression (inside matrix selectors too).
fn selectors(expr: &Expr) -> Vec<&VectorSelector> {
    let mut found = Vec::new();
    walk(expr, &mut |node| match node {
        Expr::VectorSelector(selector) => found.push(selector),
        Expr::MatrixSelector(matrix) => found.push(&matrix.vs),
        _ => {}
    });
    found
}

fn metric_name(selector: &VectorSelector) -> String {
    selector
        .name
        .clone()
        .or_else(|| {
            selector
                .matchers
                .matchers
                .iter()
                .find(|m| m.name == "__name__" && matches!(m.op, MatchOp::Equal))
                .map(|m| m.value.clone())
        })
        .unwrap_or_else(|| panic!("a selector without a metric name: {selector}"))
}

fn metric_names(expr: &Expr) -> BTreeSet<String> {
    selectors(expr).into_iter().map(metric_name).collect()
}

fn label_matcher<'a>(selector: &'a VectorSelector, label: &str) -> Option<(&'a MatchOp, &'a str)> {
    selector
        .matchers
        .matchers
        .iter()
        .find(|m| m.name == label)
        .map(|m| (&m.op, m.value.as_str()))
}

/// The labels of every `by (...)` aggregation in the expression.
fn grouping_labels(expr: &Expr) -> Vec<BTreeSet<String>> {
    let mut groups = Vec::new();
    walk(expr, &mut |node| {
        if let Expr::Aggregate(aggregate) = node {
            if let Some(LabelModifier::Include(labels)) = &aggregate.modifier {
                groups.push(labels.labels.iter().cloned().collect());
            }
        }
    });
    groups
}

/// `histogram_quantile(<q>, ...)` calls of the expression: (q, the metrics inside).
fn quantiles(expr: &Expr) -> Vec<(f64, BTreeSet<String>, Vec<BTreeSet<String>>)> {
    let mut found = Vec::new();
    walk(expr, &mut |node| {
        if let Expr::Call(call) = node {
            if call.func.name == "histogram_quantile" {
                if let (Some(first), Some(second)) = (call.args.args.first(), call.args.args.get(1))
                {
                    if let Expr::NumberLiteral(q) = first.as_ref() {
                        found.push((q.val, metric_names(second), grouping_labels(second)));
                    }
                }
            }
        }
    });
    found
}

/// Every `expr` of the dashboard's panels (and of their targets), with the panel's title.
fn panel_expressions(dashboard: &Value) -> Vec<(String, String)> {
    let mut found = Vec::new();
    fn collect(value: &Value, title: &str, found: &mut Vec<(String, String)>) {
        match value {
            Value::Object(map) => {
                let title = map.get("title").and_then(Value::as_str).unwrap_or(title);
                for (key, child) in map {
                    if key == "expr" {
                        if let Some(expr) = child.as_str() {
                            found.push((title.to_string(), expr.to_string()));
                        }
                    } else {
                        collect(child, title, found);
                    }
                }
            }
            Value::Array(items) => items.iter().for_each(|item| collect(item, title, found)),
            _ => {}
        }
    }
    collect(&dashboard["panels"], "", &mut found);
    found
}

/// Every panel, rows' nested panels included.
fn panels(dashboard: &Value) -> Vec<&Value> {
    let mut all = Vec::new();
    for panel in dashboard["panels"].as_array().expect("panels") {
        all.push(panel);
        if let Some(nested) = panel["panels"].as_array() {
            all.extend(nested.iter());
        }
    }
    all
}

fn variable<'a>(dashboard: &'a Value, name: &str) -> &'a Value {
    dashboard["templating"]["list"]
        .as_array()
        .and_then(|vars| vars.iter().find(|v| v["name"] == name))
        .unwrap_or_else(|| panic!("no `{name}` variable in {}", dashboard["uid"]))
}

/// `label_values(<selector>, <label>)` of a query variable: the selector parsed, and the label.
fn label_values_query(var: &Value) -> (Expr, String) {
    let query = var["query"]["query"]
        .as_str()
        .or_else(|| var["query"].as_str())
        .unwrap_or_else(|| panic!("variable without a query: {var}"));
    assert_eq!(var["definition"].as_str(), Some(query), "{var}");
    let inner = query
        .strip_prefix("label_values(")
        .and_then(|rest| rest.strip_suffix(')'))
        .unwrap_or_else(|| panic!("not label_values(...): {query}"));
    let (selector, label) = inner
        .rsplit_once(',')
        .unwrap_or_else(|| panic!("label_values without a label: {query}"));
    (parse(selector.trim()), label.trim().to_string())
}

/// What every provisioned dashboard must have: Grafana 9+ schema, a Prometheus data source
/// variable used by every panel and query, unique panel ids, panels inside the 24-column grid,
/// and only known metric names in its PromQL. Returns the parsed expressions.
fn check_dashboard(file: &str, allowed: &[&str]) -> (Value, Vec<(String, Expr)>) {
    let dashboard = read_json(&format!("dashboards/{file}"));
    assert!(
        dashboard["schemaVersion"].as_u64().unwrap_or(0) >= 36,
        "{file}: schemaVersion"
    );
    assert!(
        dashboard["uid"]
            .as_str()
            .is_some_and(|uid| !uid.is_empty() && uid.len() <= 40),
        "{file}: uid"
    );
    // Grafana's file provisioning reads the dashboard model itself, not an export wrapper.
    assert!(dashboard.get("dashboard").is_none() && dashboard.get("__inputs").is_none());

    let datasource = variable(&dashboard, "datasource");
    assert_eq!(datasource["type"], "datasource", "{file}");
    assert_eq!(datasource["query"], "prometheus", "{file}");

    let mut ids = BTreeSet::new();
    for panel in panels(&dashboard) {
        let id = panel["id"].as_u64().expect("panel id");
        assert!(ids.insert(id), "{file}: panel id {id} twice");
        let grid = &panel["gridPos"];
        let (x, w) = (grid["x"].as_u64().unwrap(), grid["w"].as_u64().unwrap());
        assert!(
            x + w <= 24 && grid["h"].as_u64().unwrap() > 0,
            "{file}: {panel}"
        );
        if panel["type"] == "row" {
            continue;
        }
        assert_eq!(
            panel["datasource"]["uid"], "${datasource}",
            "{file}: panel {}",
            panel["title"]
        );
        let targets = panel["targets"].as_array().expect("targets");
        assert!(
            !targets.is_empty(),
            "{file}: panel {} has no query",
            panel["title"]
        );
        for target in targets {
            assert_eq!(
                target["datasource"]["uid"], "${datasource}",
                "{file}: {target}"
            );
        }
    }

    let expressions: Vec<(String, Expr)> = panel_expressions(&dashboard)
        .into_iter()
        .map(|(title, text)| (title, parse(&text)))
        .collect();
    assert!(!expressions.is_empty(), "{file}: no PromQL at all");
    for (title, expr) in &expressions {
        for name in metric_names(expr) {
            assert!(
                allowed.contains(&name.as_str()),
                "{file}: panel {title:?} uses {name}, not one of {allowed:?}"
            );
        }
    }
    for var in dashboard["templating"]["list"].as_array().unwrap() {
        if var["type"] == "query" {
            let (selector, _) = label_values_query(var);
            for name in metric_names(&selector) {
                assert!(
                    allowed.contains(&name.as_str()) || NODE_INFO_METRICS.contains(&name.as_str()),
                    "{file}: variable {} uses {name}",
                    var["name"]
                );
            }
        }
    }
    (dashboard, expressions)
}

#[test]
fn promql_checks_see_through_the_parser() {
    // The helpers really read PromQL: names inside functions, aggregations and matchers.
    let expr = parse(
        r#"histogram_quantile(0.95, sum by (le, label) (rate(jmeter_response_time_seconds_bucket{test_id=~"$test_id"}[$__rate_interval])))"#,
    );
    assert_eq!(
        metric_names(&expr),
        BTreeSet::from(["jmeter_response_time_seconds_bucket".to_string()])
    );
    let found = quantiles(&expr);
    assert_eq!(found.len(), 1);
    assert_eq!(found[0].0, 0.95);
    assert!(found[0]
        .2
        .iter()
        .any(|g| g.contains("le") && g.contains("label")));
    assert!(parser::parse(&without_grafana_variables("sum(rate(x[1m])")).is_err());
    assert_eq!(
        metric_names(&parse(r#"{__name__="node_load1"} / node_load5"#)),
        BTreeSet::from(["node_load1".to_string(), "node_load5".to_string()])
    );
}

#[test]
fn loadtest_dashboard_shows_throughput_errors_percentiles_and_threads_per_host() {
    let (dashboard, expressions) = check_dashboard("loadtest.json", &JMETER_METRICS);

    // The test_id variable lists the tests the exporter has reported.
    let (selector, label) = label_values_query(variable(&dashboard, "test_id"));
    assert_eq!(
        metric_names(&selector),
        BTreeSet::from(["jmeter_test_running".to_string()])
    );
    assert_eq!(label, "test_id");

    let uses = |metric: &str, check: &dyn Fn(&Expr) -> bool| -> Vec<&str> {
        expressions
            .iter()
            .filter(|(_, expr)| metric_names(expr).contains(metric) && check(expr))
            .map(|(title, _)| title.as_str())
            .collect()
    };

    // Throughput: rate() of jmeter_samples_total.
    let throughput = uses("jmeter_samples_total", &|expr| {
        let mut rate = false;
        walk(expr, &mut |node| {
            if let Expr::Call(call) = node {
                rate |= call.func.name == "rate";
            }
        });
        rate
    });
    assert!(!throughput.is_empty(), "no throughput panel");

    // Error %: failed samples (success="false") over all samples.
    let error_share = uses("jmeter_samples_total", &|expr| {
        let mut divides_failed_by_all = false;
        walk(expr, &mut |node| {
            if let Expr::Binary(binary) = node {
                let failed = selectors(&binary.lhs).iter().any(|s| {
                    matches!(label_matcher(s, "success"), Some((MatchOp::Equal, "false")))
                });
                let all = selectors(&binary.rhs).iter().any(|s| {
                    metric_name(s) == "jmeter_samples_total"
                        && label_matcher(s, "success").is_none()
                });
                divides_failed_by_all |= failed && all && binary.op.to_string() == "/";
            }
        });
        divides_failed_by_all
    });
    assert!(error_share.len() >= 2, "error % panels: {error_share:?}");

    // p50, p95 and p99 per label from the response-time histogram.
    for wanted in [0.5, 0.95, 0.99] {
        let per_label = expressions.iter().any(|(_, expr)| {
            quantiles(expr).iter().any(|(q, metrics, groups)| {
                *q == wanted
                    && metrics.contains("jmeter_response_time_seconds_bucket")
                    && groups
                        .iter()
                        .any(|g| g.contains("le") && g.contains("label"))
            })
        });
        assert!(per_label, "no p{} per label panel", wanted * 100.0);
    }

    // Active threads per load-generating host.
    let per_host = uses("jmeter_active_threads", &|expr| {
        grouping_labels(expr).iter().any(|g| g.contains("host"))
    });
    assert!(!per_host.is_empty(), "no active threads per host panel");

    // Every JMeter series is limited to the chosen test.
    for (title, expr) in &expressions {
        for selector in selectors(expr) {
            assert!(
                label_matcher(selector, "test_id").is_some(),
                "panel {title:?}: {selector} is not limited to the chosen test"
            );
        }
    }
}

#[test]
fn hosts_dashboard_shows_cpu_memory_network_and_disk_per_host() {
    let (dashboard, expressions) = check_dashboard("hosts.json", &NODE_EXPORTER_METRICS);
    let (selector, label) = label_values_query(variable(&dashboard, "instance"));
    assert_eq!(label, "instance");
    assert_eq!(
        metric_names(&selector),
        BTreeSet::from(["node_uname_info".to_string()])
    );
    let used: BTreeSet<String> = expressions
        .iter()
        .flat_map(|(_, expr)| metric_names(expr))
        .collect();
    for (area, prefix) in [
        ("CPU", "node_cpu_"),
        ("memory", "node_memory_"),
        ("network", "node_network_"),
        ("disk", "node_disk_"),
    ] {
        assert!(
            used.iter().any(|name| name.starts_with(prefix)),
            "no {area} panel"
        );
    }
    // Per host: every expression keeps the instance label (grouped by it or never aggregated
    // away) and follows the host variable.
    for (title, expr) in &expressions {
        for group in grouping_labels(expr) {
            assert!(
                group.contains("instance"),
                "panel {title:?} sums hosts together"
            );
        }
        for selector in selectors(expr) {
            assert!(
                matches!(
                    label_matcher(selector, "instance"),
                    Some((MatchOp::Re(_), _))
                ),
                "panel {title:?}: {selector} ignores the host variable"
            );
        }
    }
}

/// The JTL columns of the committed fixtures' headers (tests/fixtures/**/*.jtl and JTL CSVs).
fn fixture_headers() -> Vec<(PathBuf, Vec<String>)> {
    fn visit(dir: &std::path::Path, out: &mut Vec<(PathBuf, Vec<String>)>) {
        let Ok(entries) = std::fs::read_dir(dir) else {
            return;
        };
        for entry in entries.flatten() {
            let path = entry.path();
            if path.is_dir() {
                visit(&path, out);
                continue;
            }
            let is_jtl = matches!(
                path.extension().and_then(|e| e.to_str()),
                Some("jtl") | Some("csv")
            );
            if !is_jtl {
                continue;
            }
            let text = std::fs::read_to_string(&path).unwrap_or_default();
            let header = text.lines().next().unwrap_or_default();
            if header.starts_with("timeStamp,") {
                out.push((path, header.split(',').map(str::to_string).collect()));
            }
        }
    }
    let mut out = Vec::new();
    visit(&repo_root().join("tests/fixtures"), &mut out);
    out
}

#[test]
fn jtl_pipeline_reads_jmeters_columns_in_jmeters_order() {
    let pipeline = read_json("elasticsearch/loadtest-jtl-pipeline.json");
    let processors = pipeline["processors"].as_array().expect("processors");
    let of =
        |kind: &str| -> Vec<&Value> { processors.iter().filter_map(|p| p.get(kind)).collect() };

    let csv = of("csv");
    assert_eq!(csv.len(), 1, "one csv processor");
    let columns: Vec<&str> = csv[0]["target_fields"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_str().unwrap())
        .collect();
    assert_eq!(columns, JTL_COLUMNS);
    assert_eq!(csv[0]["field"], "message");

    // Real JMeter headers agree with that order: every fixture column the pipeline knows comes
    // in the same relative order, and a fixture written with the hosts' settings matches exactly.
    let headers = fixture_headers();
    assert!(
        !headers.is_empty(),
        "no JTL fixture with a header under tests/fixtures"
    );
    for (path, header) in &headers {
        let positions: Vec<usize> = header
            .iter()
            .filter_map(|column| JTL_COLUMNS.iter().position(|known| known == column))
            .collect();
        assert!(
            positions.windows(2).all(|pair| pair[0] < pair[1]),
            "{}: columns {header:?} are in another order than the pipeline's",
            path.display()
        );
        if header.len() == JTL_COLUMNS.len() && positions.len() == JTL_COLUMNS.len() {
            assert_eq!(header, &JTL_COLUMNS, "{}", path.display());
        }
    }

    // Numbers and booleans are typed; the date comes from timeStamp in epoch milliseconds.
    let converted: BTreeSet<(&str, &str)> = of("convert")
        .iter()
        .map(|c| (c["field"].as_str().unwrap(), c["type"].as_str().unwrap()))
        .collect();
    for column in [
        "timeStamp",
        "elapsed",
        "bytes",
        "sentBytes",
        "Latency",
        "IdleTime",
        "Connect",
    ] {
        assert!(
            converted.contains(&(column, "long")),
            "{column} is not a long"
        );
    }
    for column in ["grpThreads", "allThreads"] {
        assert!(
            converted.contains(&(column, "integer")),
            "{column} is not an integer"
        );
    }
    assert!(converted.contains(&("success", "boolean")));
    assert!(converted.contains(&("test_id", "long")));
    for (field, _) in &converted {
        assert!(
            JTL_COLUMNS.contains(field) || *field == "test_id",
            "convert of an unknown field {field}"
        );
    }
    let date = of("date");
    assert_eq!(date.len(), 1);
    assert_eq!(date[0]["field"], "timeStamp");
    assert_eq!(date[0]["formats"], serde_json::json!(["UNIX_MS"]));
    assert_eq!(date[0]["target_field"], "@timestamp");

    // A sample without a test id is never indexed silently as one.
    let fail = of("fail");
    assert!(
        fail.iter().any(|f| f["if"] == "ctx.test_id == null"),
        "no check for a missing test_id"
    );
}

#[test]
fn kibana_data_view_is_one_importable_saved_object_over_the_pipelines_indices() {
    let path = monitoring_file("kibana/data-view.json");
    let text = std::fs::read_to_string(&path).unwrap();
    // The saved objects import API reads NDJSON: one object per line.
    assert_eq!(text.trim_end().lines().count(), 1, "{}", path.display());
    let object: Value = serde_json::from_str(text.trim_end()).unwrap();
    assert_eq!(object["type"], "index-pattern");
    assert!(object["id"].as_str().is_some_and(|id| !id.is_empty()));
    assert_eq!(object["attributes"]["title"], "loadtest-*");

    // The data view's time field is the one the ingest pipeline writes.
    let pipeline = read_json("elasticsearch/loadtest-jtl-pipeline.json");
    let date_target = pipeline["processors"]
        .as_array()
        .unwrap()
        .iter()
        .find_map(|p| p.get("date"))
        .map(|d| d["target_field"].clone());
    assert_eq!(
        Some(object["attributes"]["timeFieldName"].clone()),
        date_target
    );
}
