//! A verb's own templates: every `<name>.hbs` of the templates directory that is neither a
//! partial nor one of the bot's own message kinds, each checked at load with the named sample
//! contexts of the `<name>.samples.json` beside it (required: a template nothing renders at
//! load could break unnoticed until someone types the verb).

use super::{RenderError, TEMPLATE_NAMES};
use serde_json::Value;
use std::path::Path;

/// A verb's own template and the sample contexts it is checked with at load.
#[derive(Debug)]
pub(super) struct VerbTemplate {
    pub(super) name: String,
    /// `(snapshot name, context)` from `<name>.samples.json`: `{"<snapshot>": {context}, …}`.
    pub(super) samples: Vec<(String, Value)>,
}

/// Every verb template of `dir`, with its samples.
pub(super) fn find(dir: &Path) -> Result<Vec<VerbTemplate>, RenderError> {
    let io_err = |source| RenderError::Io {
        path: dir.to_path_buf(),
        source,
    };
    let mut names: Vec<String> = std::fs::read_dir(dir)
        .map_err(io_err)?
        .filter_map(|entry| entry.ok()?.file_name().into_string().ok())
        .filter_map(|file| file.strip_suffix(".hbs").map(str::to_string))
        .filter(|name| !name.starts_with('_') && !TEMPLATE_NAMES.contains(&name.as_str()))
        .collect();
    names.sort();
    names
        .into_iter()
        .map(|name| {
            let path = dir.join(format!("{name}.samples.json"));
            let text = std::fs::read_to_string(&path)
                .map_err(|_| RenderError::Missing { path: path.clone() })?;
            let samples = match serde_json::from_str::<Value>(&text) {
                Ok(Value::Object(samples)) if !samples.is_empty() => samples.into_iter().collect(),
                _ => {
                    return Err(RenderError::Compile {
                        path,
                        message: "must be a JSON object of named sample contexts".into(),
                    })
                }
            };
            Ok(VerbTemplate { name, samples })
        })
        .collect()
}
