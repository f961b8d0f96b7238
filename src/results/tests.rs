//! Unit tests of the summariser on small hand-made inputs: the CSV and XML edge cases real
//! JMeter output rarely shows (quoted newlines, column order, bad values), each error's line,
//! and comparison and rendering. Real JMeter files are tested in tests/integration/results.rs.

use super::*;

fn csv(text: &str) -> Result<TestSummary, JtlError> {
    summarise(text.as_bytes())
}

fn error_text(text: &str) -> String {
    match summarise(text.as_bytes()) {
        Ok(summary) => panic!("expected an error, got {summary:?}"),
        Err(error) => error.to_string(),
    }
}

#[test]
fn csv_columns_in_any_order_with_quoted_commas_and_newlines() {
    let text = "label,success,elapsed,timeStamp,responseCode,failureMessage\n\
                \"GET /a,b\",true,10,1000,200,\n\
                \"multi\nline\",false,30,1005,500,\"boom, \"\"quoted\"\"\nsecond line\"\n\
                \"GET /a,b\",true,20,1010,200,\n";
    let s = csv(text).unwrap();
    assert_eq!((s.samples, s.errors, s.label_count), (3, 1, 2));
    assert_eq!(s.labels[0].label, "GET /a,b");
    assert_eq!(s.labels[0].samples, 2);
    assert_eq!(s.labels[1].label, "multi\nline");
    assert_eq!(s.first_errors[0].message, "boom, \"quoted\"\nsecond line");
    assert_eq!(s.first_errors[0].code, "500");
    assert_eq!(s.first_start_ms, Some(1000));
    assert_eq!(s.last_end_ms, Some(1035));
    assert_eq!(s.duration_ms, 35);
    assert_eq!(s.format, JtlFormat::Csv);
}

#[test]
fn missing_required_column_names_it_and_line_one() {
    let text = "timeStamp,label,success\n1000,GET,true\n";
    let message = error_text(text);
    assert!(
        message.starts_with("line 1: the header has no column `elapsed`"),
        "{message}"
    );
    assert!(message.contains("timeStamp,label,success"), "{message}");
}

#[test]
fn non_numeric_elapsed_names_its_line_after_a_quoted_newline() {
    let text = "\n\ntimeStamp,elapsed,label,success\n1000,5,\"a\nb\",true\n1001,fast,GET,true\n";
    let error = summarise(text.as_bytes()).unwrap_err();
    assert_eq!(error.line(), Some(6), "{error}");
    assert!(
        error
            .to_string()
            .contains("`elapsed` is \"fast\", expected a whole number"),
        "{error}"
    );
}

#[test]
fn bad_success_and_dates_as_timestamps_are_refused_by_name() {
    let message = error_text("timeStamp,elapsed,label,success\n1000,5,GET,yes\n");
    assert!(
        message.contains("line 2: `success` is \"yes\", expected true or false"),
        "{message}"
    );
    let message =
        error_text("timeStamp,elapsed,label,success\n2024/01/02 10:00:00.000,5,GET,true\n");
    assert!(message.contains("timestamp_format=ms"), "{message}");
    let message = error_text("timeStamp,elapsed,label,success\n1000,-5,GET,true\n");
    assert!(message.contains("line 2: `elapsed` is \"-5\""), "{message}");
}

#[test]
fn headerless_csv_and_short_rows_and_empty_files_are_explained() {
    let message = error_text("1000,5,GET,200,OK,t,text,true\n");
    assert!(message.contains("line 1: no header line"), "{message}");
    assert!(message.contains("print_field_names=true"), "{message}");
    let message = error_text("timeStamp,elapsed,label,success\n1000,5,GET\n");
    assert!(
        message.contains("line 2: 3 fields where the header has 4"),
        "{message}"
    );
    assert_eq!(error_text("  \n\n"), JtlError::Empty.to_string());
    assert_eq!(error_text(""), JtlError::Empty.to_string());
}

#[test]
fn header_only_is_an_empty_test_not_an_error() {
    let s = csv("timeStamp,elapsed,label,success\n").unwrap();
    assert_eq!((s.samples, s.duration_ms, s.throughput_per_s), (0, 0, 0.0));
    assert!(s.labels.is_empty() && s.others.is_none());
}

#[test]
fn tab_delimited_csv_with_a_byte_order_mark() {
    let s = csv("\u{feff}timeStamp\telapsed\tlabel\tsuccess\n1000\t5\tGET, with comma\ttrue\n")
        .unwrap();
    assert_eq!(s.labels[0].label, "GET, with comma");
}

#[test]
fn top_labels_roll_the_rest_into_others() {
    let mut text = String::from("timeStamp,elapsed,label,success\n");
    for (label, count) in [("a", 5), ("b", 4), ("c", 3), ("d", 2), ("e", 1)] {
        for i in 0..count {
            text.push_str(&format!(
                "{},{},{label},{}\n",
                1000 + i,
                10 * (i + 1),
                i != 0
            ));
        }
    }
    let s = summarise_top(text.as_bytes(), 2).unwrap();
    let names: Vec<&str> = s.labels.iter().map(|r| r.label.as_str()).collect();
    assert_eq!(names, ["a", "b"]);
    let others = s.others.as_ref().unwrap();
    assert_eq!(others.label, "others (3 labels)");
    assert_eq!((others.samples, others.errors), (6, 3));
    assert_eq!(others.latency.max_ms, 30);
    assert_eq!(s.label_count, 5);
    assert_eq!(s.all_rows().map(|r| r.samples).sum::<u64>(), s.samples);
}

#[test]
fn labels_beyond_the_cap_share_one_row() {
    let mut text = String::from("timeStamp,elapsed,label,success\n");
    for i in 0..MAX_LABELS + 3 {
        text.push_str(&format!("1000,1,label {i},true\n"));
    }
    let s = summarise_top(text.as_bytes(), MAX_LABELS + 10).unwrap();
    assert_eq!(s.label_count, MAX_LABELS + 1);
    let overflow = s.labels.iter().find(|r| r.label == OVERFLOW_LABEL).unwrap();
    assert_eq!(overflow.samples, 3);
}

const XML: &str = r#"<?xml version="1.0" encoding="UTF-8"?>
<testResults version="1.2">
<sample t="50" ts="1000" s="false" lb="checkout &amp; pay" rc="404" rm="1 failing" na="2">
  <httpSample t="45" ts="1000" s="true" lb="GET redirect" rc="200" rm="OK">
    <httpSample t="40" ts="1000" s="true" lb="hop" rc="301" rm="Moved"/>
  </httpSample>
  <httpSample t="5" ts="1045" s="false" lb="GET missing" rc="404" rm="Not found"/>
  <assertionResult><failureMessage>x</failureMessage></assertionResult>
</sample>
<httpSample t="7" ts="1100" s="true" lb="GET /" rc="200" rm="OK" by="10" na="3"/>
</testResults>
"#;

#[test]
fn xml_counts_top_level_samples_only() {
    let s = summarise(XML.as_bytes()).unwrap();
    assert_eq!(s.format, JtlFormat::Xml);
    assert_eq!((s.samples, s.errors, s.label_count), (2, 1, 2));
    let labels: Vec<&str> = s.labels.iter().map(|r| r.label.as_str()).collect();
    assert_eq!(labels, ["GET /", "checkout & pay"]);
    assert_eq!(
        s.error_codes,
        vec![CodeCount {
            code: "404".into(),
            count: 1
        }]
    );
    assert_eq!(s.first_errors[0].message, "1 failing");
    assert_eq!((s.duration_ms, s.max_threads, s.bytes), (107, Some(3), 10));
}

#[test]
fn xml_errors_name_the_line() {
    let bad = XML.replace(r#"t="7" ts="1100""#, r#"t="7" ts="soon""#);
    let error = summarise(bad.as_bytes()).unwrap_err();
    assert_eq!(error.line(), Some(10), "{error}");
    assert!(error.to_string().contains("`ts` is \"soon\""), "{error}");
    let bad = XML.replace(r#"<httpSample t="7" "#, "<httpSample ");
    let message = summarise(bad.as_bytes()).unwrap_err().to_string();
    assert_eq!(message, "line 10: <httpSample> has no `t` attribute");
    let message = error_text("<results><sample/></results>");
    assert!(message.contains("not JMeter's <testResults>"), "{message}");
    let message =
        error_text("<testResults>\n<sample t=\"1\" ts=\"1\" lb=\"a\" s=\"true\">\n</testResults>");
    assert!(message.starts_with("line 3:"), "{message}");
}

#[test]
fn summaries_round_trip_through_json() {
    let s = summarise(XML.as_bytes()).unwrap();
    let json = serde_json::to_string(&s).unwrap();
    assert!(json.contains("\"p95_ms\""), "{json}");
    let back: TestSummary = serde_json::from_str(&json).unwrap();
    assert_eq!(back, s);
}

#[test]
fn compare_gives_absolute_and_relative_deltas() {
    let a = csv("timeStamp,elapsed,label,success\n1000,100,GET,true\n1000,100,GET,true\n").unwrap();
    let b =
        csv("timeStamp,elapsed,label,success\n1000,150,GET,true\n1000,150,GET,false\n").unwrap();
    let rows = compare(&a, &b);
    let p95 = rows
        .iter()
        .find(|r| r.label.is_none() && r.figure == Figure::P95Ms)
        .unwrap();
    assert_eq!(
        (p95.a, p95.b, p95.delta, p95.delta_pct),
        (100.0, 150.0, 50.0, Some(50.0))
    );
    let errors = rows
        .iter()
        .find(|r| r.label.is_none() && r.figure == Figure::Errors)
        .unwrap();
    assert_eq!(errors.delta_pct, None, "no base to divide by");
    let per_label = rows
        .iter()
        .filter(|r| r.label.as_deref() == Some("GET"))
        .count();
    assert_eq!(per_label, 2);
    let text = comparison_text(&rows);
    assert!(text.contains("+50.0 %"), "{text}");
}

#[test]
fn rendering_escapes_jtl_text_for_mrkdwn() {
    let s =
        csv("timeStamp,elapsed,label,success,responseCode\n1000,5,<b> & `x`,false,500\n").unwrap();
    let text = summary_text(&s);
    assert!(text.starts_with("1 samples in 0.0 s"), "{text}");
    assert!(text.contains("<b> & `x`"), "{text}");
    let slack = summary_mrkdwn(&s);
    assert!(slack.contains("&lt;b&gt; &amp; 'x'"), "{slack}");
    assert!(!slack.contains("<b>"), "{slack}");
    assert_eq!(slack.matches("```").count(), 2, "{slack}");
    assert!(slack.contains("error codes: 500 × 1"), "{slack}");
}

/// Cut and corrupted real JMeter files never panic: each gives a summary or an error.
#[test]
fn cut_and_corrupted_fixtures_never_panic() {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/jtl");
    let mut state: u64 = 0x2545_F491_4F6C_DD1D;
    let mut next = move || {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        state
    };
    for name in ["csv-default.jtl", "csv-subset.jtl", "xml-subresults.jtl"] {
        let bytes = std::fs::read(dir.join(name)).unwrap();
        for cut in (0..bytes.len()).step_by(bytes.len() / 200 + 1) {
            let _ = summarise(&bytes[..cut]);
        }
        for _ in 0..300 {
            let mut mutated = bytes.clone();
            for _ in 0..4 {
                let at = (next() as usize) % mutated.len();
                mutated[at] = b"\",<>\n&;x0-9\t\"'"[(next() % 14) as usize];
            }
            if let Err(error) = summarise(mutated.as_slice()) {
                assert!(!error.to_string().is_empty());
            }
        }
    }
}
