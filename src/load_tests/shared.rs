//! Plans shared in the channel: a `.jmx` that someone allowed to `run` shares in the channel of
//! an environment with `shared_plans = true` is kept under the state directory
//! (`shared-plans/<env>/<name>`, private like the rest of it) and copied to the environment's
//! bucket with `plans_dir` before every test. What a shared file must be to become a plan: a
//! name `run` accepts, at most [`MAX_SHARED_PLAN_BYTES`], and a JMeter test plan (its root
//! element `jmeterTestPlan`) — not whatever else a channel shares under that extension.

use crate::private_fs;
use std::path::{Path, PathBuf};

/// The largest plan taken from the channel (real plans are tens of kilobytes; data files
/// belong in `plans_dir`).
pub const MAX_SHARED_PLAN_BYTES: u64 = 5 * 1024 * 1024;

/// Where `env`'s shared plans are kept.
pub fn shared_dir(state_dir: &Path, env: &str) -> PathBuf {
    state_dir.join("shared-plans").join(env)
}

/// Why a file called `name` cannot be a plan (checked before it is downloaded).
pub fn check_name(name: &str) -> Result<(), String> {
    if crate::config::is_plan_name(name) {
        return Ok(());
    }
    Err(format!(
        "`{name}` is not a plan name `run` accepts: letters, digits, `-`, `_` and `.`, ending \
         in `.jmx`, at most 128 characters"
    ))
}

/// Why `content` named `name` cannot be a plan; `Ok` when it can.
pub fn check(name: &str, content: &[u8]) -> Result<(), String> {
    check_name(name)?;
    if content.len() as u64 > MAX_SHARED_PLAN_BYTES {
        return Err(format!(
            "`{name}` is {} bytes; a shared plan may be at most {MAX_SHARED_PLAN_BYTES}",
            content.len()
        ));
    }
    match root_element(content) {
        Some(root) if root == "jmeterTestPlan" => Ok(()),
        Some(root) => Err(format!(
            "`{name}` is not a JMeter test plan: its root element is `{root}`, not \
             `jmeterTestPlan` (save it from JMeter)"
        )),
        None => Err(format!(
            "`{name}` is not a JMeter test plan: it is not XML (save it from JMeter)"
        )),
    }
}

/// The name of the document's first element, if it is XML at all.
fn root_element(content: &[u8]) -> Option<String> {
    let mut reader = quick_xml::Reader::from_reader(content);
    let mut buffer = Vec::new();
    loop {
        match reader.read_event_into(&mut buffer).ok()? {
            quick_xml::events::Event::Start(element) | quick_xml::events::Event::Empty(element) => {
                return Some(String::from_utf8_lossy(element.name().as_ref()).into_owned())
            }
            quick_xml::events::Event::Eof => return None,
            quick_xml::events::Event::Text(text) if !text.iter().all(u8::is_ascii_whitespace) => {
                return None
            }
            _ => buffer.clear(),
        }
    }
}

/// The shared plans kept in `dir`, sorted; none when it does not exist.
pub fn list(dir: &Path) -> Vec<String> {
    let mut names: Vec<String> = std::fs::read_dir(dir)
        .into_iter()
        .flatten()
        .flatten()
        .filter_map(|entry| entry.file_name().into_string().ok())
        .filter(|name| crate::config::is_plan_name(name))
        .collect();
    names.sort();
    names
}

/// Keeps a checked plan in `dir` (written aside, then renamed: a reader never sees half a
/// plan). Returns whether it replaced one of the same name.
pub fn keep(dir: &Path, name: &str, content: &[u8]) -> std::io::Result<bool> {
    private_fs::create_private_dir_all(dir)?;
    let path = dir.join(name);
    let replaced = path.exists();
    let partial = dir.join(format!(".{name}.partial"));
    private_fs::write_private(&partial, content)?;
    std::fs::rename(&partial, &path)?;
    Ok(replaced)
}

#[cfg(test)]
mod tests {
    use super::*;

    const PLAN: &str = r#"<?xml version="1.0" encoding="UTF-8"?>
<!-- saved by JMeter -->
<jmeterTestPlan version="1.2" properties="5.0"><hashTree/></jmeterTestPlan>"#;

    #[test]
    fn only_a_jmeter_plan_with_a_plan_name_is_taken() {
        assert_eq!(check("checkout.jmx", PLAN.as_bytes()), Ok(()));
        let refusal = |name: &str, content: &[u8]| check(name, content).unwrap_err();
        assert!(refusal("../x.jmx", PLAN.as_bytes()).contains("not a plan name"));
        assert!(refusal("notes.txt", PLAN.as_bytes()).contains("not a plan name"));
        assert!(refusal("page.jmx", b"<html><body>sign in</body></html>")
            .contains("root element is `html`"));
        assert!(refusal("bin.jmx", b"PK\x03\x04 zip").contains("not XML"));
        let big = vec![b' '; MAX_SHARED_PLAN_BYTES as usize + 1];
        assert!(refusal("big.jmx", &big).contains("at most"));
    }

    #[test]
    fn kept_plans_are_private_listed_and_replaced_whole() {
        use std::os::unix::fs::PermissionsExt;
        let state = tempfile::tempdir().unwrap();
        let dir = shared_dir(state.path(), "lt1");
        assert!(list(&dir).is_empty());
        assert!(!keep(&dir, "b.jmx", PLAN.as_bytes()).unwrap());
        assert!(!keep(&dir, "a.jmx", PLAN.as_bytes()).unwrap());
        assert!(keep(&dir, "a.jmx", b"<jmeterTestPlan/>").unwrap());
        assert_eq!(list(&dir), ["a.jmx", "b.jmx"]);
        assert_eq!(
            std::fs::read(dir.join("a.jmx")).unwrap(),
            b"<jmeterTestPlan/>"
        );
        let mode = std::fs::metadata(dir.join("a.jmx"))
            .unwrap()
            .permissions()
            .mode();
        assert_eq!(mode & 0o777, 0o600);
    }
}
