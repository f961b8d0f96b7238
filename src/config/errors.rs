//! Configuration errors: every problem names the file and the dotted key path, and all of
//! them are collected before the config is refused.

use std::fmt;

/// One problem in a configuration or variable-set file.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ConfigError {
    /// The file (or `environment` for environment variables); empty when the caller adds it.
    pub file: String,
    /// Dotted key path, e.g. `environments.lt1.max_lease`; empty for the whole file.
    pub key: String,
    pub message: String,
}

impl ConfigError {
    pub fn new(
        file: impl Into<String>,
        key: impl Into<String>,
        message: impl Into<String>,
    ) -> Self {
        Self {
            file: file.into(),
            key: key.into(),
            message: message.into(),
        }
    }
}

impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if !self.file.is_empty() {
            write!(f, "{}: ", self.file)?;
        }
        if !self.key.is_empty() {
            write!(f, "{}: ", self.key)?;
        }
        f.write_str(&self.message)
    }
}

impl std::error::Error for ConfigError {}

/// Every problem found, one per line when displayed.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ConfigErrors(pub Vec<ConfigError>);

impl fmt::Display for ConfigErrors {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (index, error) in self.0.iter().enumerate() {
            if index > 0 {
                writeln!(f)?;
            }
            write!(f, "{error}")?;
        }
        Ok(())
    }
}

impl std::error::Error for ConfigErrors {}

/// Turns a serde error from deserializing the value at `prefix` into a keyed error.
/// toml reports the inner key path only in its `Display` ("in `a.b`"), and serde names an
/// unknown field only in the message, so both are lifted into the key.
pub fn from_toml_error(file: &str, prefix: &str, error: &toml::de::Error) -> ConfigError {
    let mut key = prefix.to_string();
    let rendered = error.to_string();
    if let Some(inner) = rendered
        .lines()
        .rev()
        .find_map(|line| line.strip_prefix("in `")?.strip_suffix('`'))
    {
        key = join_key(&key, inner);
    }
    let message = error.message().trim();
    if let Some(rest) = message.strip_prefix("unknown field `") {
        if let Some((field, expected)) = rest.split_once('`') {
            let expected = expected.trim_start_matches(',').trim();
            let message = if expected.is_empty() {
                "unknown key".to_string()
            } else {
                format!("unknown key; {expected}")
            };
            return ConfigError::new(file, join_key(&key, field), message);
        }
    }
    ConfigError::new(file, key, message)
}

fn join_key(prefix: &str, key: &str) -> String {
    match (prefix.is_empty(), key.is_empty()) {
        (true, _) => key.to_string(),
        (_, true) => prefix.to_string(),
        _ => format!("{prefix}.{key}"),
    }
}
