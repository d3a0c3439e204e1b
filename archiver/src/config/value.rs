//! How one setting's value is read from text: an environment variable, a
//! flag, or a TOML string. One parser per type, so `ARCHIVER_IN_FLIGHT_MAX=x`
//! and `--in-flight-max x` fail with the same words.

use crate::source::SecurityProtocol;
use crate::telemetry::logging::LogFormat;
use clap::ValueEnum;
use std::net::SocketAddr;
use std::path::PathBuf;

/// A value that can be written as text.
pub trait Setting: Sized {
    /// What a valid value looks like, for errors: "expected {expected}".
    fn expected() -> String;
    /// The value `text` denotes, or `None` when it denotes none.
    fn parse(text: &str) -> Option<Self>;
    /// The text that [`Setting::parse`] reads back as this value.
    fn render(&self) -> String;
    /// What an empty environment variable means: by default nothing, as a
    /// `FOO=` line in a compose file usually means "not configured".
    fn empty() -> Option<Self> {
        None
    }
}

/// How a setting is given as a flag. clap takes one `Item` per occurrence,
/// and a `Vec` field collects repeated occurrences; `from_flag` turns what
/// clap collected into the setting.
pub trait FlagValue: Sized {
    type Item: Setting + Clone + Send + Sync + 'static;
    fn from_flag(given: Self) -> Self;
}

/// Single-valued settings: the flag's value is the setting.
macro_rules! scalar_flags {
    ($($t:ty),*) => {$(
        impl FlagValue for $t {
            type Item = $t;
            fn from_flag(given: Self) -> Self {
                given
            }
        }
    )*};
}

scalar_flags!(u64, bool, String, PathBuf, MetricsAddr, SecurityProtocol, LogFormat, TopicMode, Membership);

/// `--topics a,b --topics c` and `--topics "a b"` give the same list as
/// `ARCHIVER_TOPICS`; `--topics-veto=` is the empty list.
impl FlagValue for Vec<String> {
    type Item = String;
    fn from_flag(given: Self) -> Self {
        given.iter().flat_map(|item| split_list(item)).collect()
    }
}

/// "invalid value 'x': expected …", the one wording of a bad value.
pub fn invalid_value<T: Setting>(text: &str) -> String {
    format!("invalid value '{text}': expected {}", T::expected())
}

/// Parses a setting or explains why not; a `clap` value parser, too.
pub fn parse_setting<T: Setting>(text: &str) -> Result<T, String> {
    T::parse(text).ok_or_else(|| invalid_value::<T>(text))
}

impl Setting for u64 {
    fn expected() -> String {
        "a whole number".into()
    }
    fn parse(text: &str) -> Option<Self> {
        text.trim().replace('_', "").parse().ok()
    }
    fn render(&self) -> String {
        self.to_string()
    }
}

impl Setting for bool {
    fn expected() -> String {
        "true or false".into()
    }
    fn parse(text: &str) -> Option<Self> {
        match text.trim().to_ascii_lowercase().as_str() {
            "true" | "1" | "yes" | "on" => Some(true),
            "false" | "0" | "no" | "off" => Some(false),
            _ => None,
        }
    }
    fn render(&self) -> String {
        self.to_string()
    }
}

impl Setting for String {
    fn expected() -> String {
        "text".into()
    }
    fn parse(text: &str) -> Option<Self> {
        Some(text.to_owned())
    }
    fn render(&self) -> String {
        self.clone()
    }
}

impl Setting for PathBuf {
    fn expected() -> String {
        "a file path".into()
    }
    fn parse(text: &str) -> Option<Self> {
        Some(PathBuf::from(text))
    }
    fn render(&self) -> String {
        self.display().to_string()
    }
}

/// A list is written with commas or whitespace between items, as upstream
/// splits `KAFKA_VETOED_TOPICS` on whitespace. Empty text is an empty list.
impl Setting for Vec<String> {
    fn expected() -> String {
        "names separated by commas or spaces".into()
    }
    fn parse(text: &str) -> Option<Self> {
        Some(split_list(text))
    }
    fn render(&self) -> String {
        self.join(",")
    }
    /// `ARCHIVER_TOPICS_VETO=` archives the heartbeat too.
    fn empty() -> Option<Self> {
        Some(Vec::new())
    }
}

/// The items of a comma- or whitespace-separated list, empty ones dropped.
pub fn split_list(text: &str) -> Vec<String> {
    text.split(|c: char| c == ',' || c.is_whitespace()).filter(|s| !s.is_empty()).map(str::to_owned).collect()
}

/// Where `/metrics` listens; `none` turns it off.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct MetricsAddr(pub Option<SocketAddr>);

impl MetricsAddr {
    /// Port `port` on 127.0.0.1.
    pub const fn local(port: u16) -> MetricsAddr {
        MetricsAddr(Some(SocketAddr::V4(std::net::SocketAddrV4::new(std::net::Ipv4Addr::LOCALHOST, port))))
    }
}

impl Setting for MetricsAddr {
    fn expected() -> String {
        "an address such as 127.0.0.1:9464, or none".into()
    }
    fn parse(text: &str) -> Option<Self> {
        match text.trim() {
            t if t.eq_ignore_ascii_case("none") => Some(MetricsAddr(None)),
            t => t.parse().ok().map(|a| MetricsAddr(Some(a))),
        }
    }
    fn render(&self) -> String {
        self.0.map_or_else(|| "none".into(), |a| a.to_string())
    }
}

/// Whether the archiver joins its consumer group or consumes on its own.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Membership {
    /// Join the group: the broker shares the partitions among its members
    /// and rebalances when they come and go.
    Group,
    /// Take every partition of the selected topics without joining (no
    /// group join to wait for, no rebalances). Offsets are still committed
    /// under the group id, so a later run in either mode resumes there. At
    /// most one such process per group id, and none while members are in
    /// it: Kafka refuses a commit from outside an active group.
    Standalone,
}

/// How the topics to archive are chosen; see [`super::TopicSelection`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum TopicMode {
    /// Every visible topic minus internals and the veto list.
    All,
    /// Exactly the topics in `topics.names`.
    Explicit,
    /// The topics hopauth marks `archivable`, minus the veto list.
    Hopauth,
}

/// clap value enums are settings too, parsed and shown the same way.
macro_rules! value_enum_settings {
    ($($t:ty),*) => {$(
        impl Setting for $t {
            fn expected() -> String {
                enum_expected::<Self>()
            }
            fn parse(text: &str) -> Option<Self> {
                enum_parse(text)
            }
            fn render(&self) -> String {
                enum_render(self)
            }
        }
    )*};
}

value_enum_settings!(SecurityProtocol, LogFormat, TopicMode, Membership);

/// Enum values match case-insensitively with `-` or `_`, so hop's
/// `SASL_SSL` and clap's `sasl-ssl` both work.
fn enum_parse<T: ValueEnum>(text: &str) -> Option<T> {
    T::from_str(&text.trim().replace('_', "-"), true).ok()
}

fn enum_render<T: ValueEnum>(value: &T) -> String {
    value.to_possible_value().map(|v| v.get_name().to_owned()).unwrap_or_default()
}

fn enum_expected<T: ValueEnum>() -> String {
    let names: Vec<String> = T::value_variants().iter().map(enum_render).collect();
    format!("one of {}", names.join(", "))
}

/// `#[serde(with = "text")]`: an optional setting written as a TOML string.
pub mod text {
    use super::{Setting, invalid_value};
    use serde::{Deserialize, Deserializer, Serializer};

    pub fn serialize<T: Setting, S: Serializer>(value: &Option<T>, serializer: S) -> Result<S::Ok, S::Error> {
        match value {
            Some(v) => serializer.serialize_str(&v.render()),
            None => serializer.serialize_none(),
        }
    }

    pub fn deserialize<'de, T: Setting, D: Deserializer<'de>>(deserializer: D) -> Result<Option<T>, D::Error> {
        let text = String::deserialize(deserializer)?;
        T::parse(&text).map(Some).ok_or_else(|| serde::de::Error::custom(invalid_value::<T>(&text)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_and_renders() {
        assert_eq!(u64::parse(" 64 "), Some(64));
        assert_eq!(u64::parse("x"), None);
        assert_eq!(bool::parse("Yes"), Some(true));
        assert_eq!(split_list("a, b  c,,"), vec!["a", "b", "c"]);
        assert_eq!(SecurityProtocol::parse("SASL_SSL"), Some(SecurityProtocol::SaslSsl));
        assert_eq!(SecurityProtocol::SaslSsl.render(), "sasl-ssl");
        assert_eq!(MetricsAddr::parse("None"), Some(MetricsAddr(None)));
        assert_eq!(MetricsAddr::parse("0.0.0.0:1").map(|m| m.render()), Some("0.0.0.0:1".into()));
        assert_eq!(parse_setting::<LogFormat>("xml").unwrap_err(), "invalid value 'xml': expected one of text, json");
    }
}
