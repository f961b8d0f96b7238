//! Slack's mrkdwn: escaping user text, mentions of users, groups and channels, and the reverse
//! (mrkdwn as a person reads it in a terminal). Pure text functions.

use regex::Regex;
use std::sync::OnceLock;

/// Slack's three mrkdwn control characters as entities, `&` first.
pub fn escape(text: &str) -> String {
    text.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
}

/// `<@U…>` for users, `<!subteam^S…>` for user groups, words for `*`, escaped text for
/// anything else (built-in actors such as `scheduler` or `console`).
pub fn mention(id: &str) -> String {
    let is_id = |rest: &str| {
        !rest.is_empty()
            && rest
                .chars()
                .all(|c| c.is_ascii_uppercase() || c.is_ascii_digit())
    };
    match id.split_at_checked(1) {
        Some(("U" | "W", rest)) if is_id(rest) => format!("<@{id}>"),
        Some(("S", rest)) if is_id(rest) => format!("<!subteam^{id}>"),
        _ if id == "*" => "anyone in the channel".to_string(),
        _ => escape(id),
    }
}

/// A link to a channel: `<#C…>`, which Slack shows as the channel's name.
pub fn channel_link(channel: &str) -> String {
    format!("<#{channel}>")
}

/// Slack mrkdwn as a person reads it in a terminal: entities decoded, mentions as `@U…`,
/// links as `label (url)`, code fences dropped. Bold and inline-code markers are left: they
/// read fine as plain text.
pub fn to_plain(text: &str) -> String {
    static LINK: OnceLock<Regex> = OnceLock::new();
    let link = LINK.get_or_init(|| {
        Regex::new(r"<([@#!])(?:subteam\^)?([^>|]+)(?:\|[^>]*)?>|<([^>|]+)\|([^>]*)>|<([^>]+)>")
            .expect("static regex")
    });
    let replaced = link.replace_all(text, |c: &regex::Captures<'_>| {
        if let (Some(sigil), Some(id)) = (c.get(1), c.get(2)) {
            match sigil.as_str() {
                "#" => format!("#{}", id.as_str()),
                _ => format!("@{}", id.as_str()),
            }
        } else if let (Some(url), Some(label)) = (c.get(3), c.get(4)) {
            format!("{} ({})", label.as_str(), url.as_str())
        } else {
            c.get(5).map(|m| m.as_str().to_string()).unwrap_or_default()
        }
    });
    replaced
        .replace("```", "")
        .replace("&lt;", "<")
        .replace("&gt;", ">")
        .replace("&amp;", "&")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mrkdwn_is_made_plain() {
        let table = [
            ("by <@U123ABC>", "by @U123ABC"),
            ("group <!subteam^S999|@ops>", "group @S999"),
            ("in <#C42>", "in #C42"),
            (
                "<http://10.0.0.5:3000|Grafana>",
                "Grafana (http://10.0.0.5:3000)",
            ),
            ("<http://x>", "http://x"),
            ("a &lt;b&gt; &amp;amp; c", "a <b> &amp; c"),
        ];
        for (input, expected) in table {
            assert_eq!(to_plain(input), expected, "{input}");
        }
    }

    #[test]
    fn mentions_by_kind_of_id() {
        for (id, expected) in [
            ("U024BE7LH", "<@U024BE7LH>"),
            ("W123", "<@W123>"),
            ("S0614TZR7", "<!subteam^S0614TZR7>"),
            ("*", "anyone in the channel"),
            ("scheduler", "scheduler"),
            ("u<bad>", "u&lt;bad&gt;"),
        ] {
            assert_eq!(mention(id), expected, "{id}");
        }
        assert_eq!(channel_link("C0LT1"), "<#C0LT1>");
    }
}
