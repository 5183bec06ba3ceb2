//! Environment overrides (`FRONTLINE__SECTION__KEY`): the type of every key, read from the Rust
//! types by running [`Config`]'s `Deserialize` impl against a recording deserializer, and raw
//! values converted to it.

use std::collections::BTreeMap;
use std::sync::OnceLock;

use serde::de::{self, Deserializer, Visitor};
use serde::Deserialize;

use super::sections::{
    DISCORD_TOKEN_VAR, IDENTITY_SECRET_VAR, SLACK_APP_TOKEN_VAR, SLACK_BOT_TOKEN_VAR,
    SLACK_SIGNING_SECRET_VAR,
};
use super::Config;

/// The type a config key expects, read from the Rust types by [`schema`]. Environment values
/// are converted to it, so the file's types and the variables' never drift apart.
#[derive(Debug, Clone, PartialEq)]
pub enum KeyType {
    Bool,
    Integer,
    Float,
    /// Strings, paths and enums (`desk.platform`).
    String,
    List(Box<KeyType>),
    /// A struct: a fixed set of keys.
    Section(BTreeMap<String, KeyType>),
    /// A map with free key names and values of one type.
    Map(Box<KeyType>),
    /// A free-form TOML value (`[vars]`): set from the environment as a string.
    Any,
}

/// The type of every key of [`Config`], found by running its `Deserialize` impl against a
/// deserializer that records what each field asks for.
pub fn schema() -> &'static KeyType {
    static SCHEMA: OnceLock<KeyType> = OnceLock::new();
    SCHEMA.get_or_init(|| {
        let mut kind = KeyType::Any;
        Config::deserialize(Probe(&mut kind))
            .expect("every Config field type can be probed (see the schema tests)");
        kind
    })
}

static ANY: KeyType = KeyType::Any;

impl KeyType {
    fn child(&self, name: &str) -> Option<&KeyType> {
        match self {
            KeyType::Section(keys) => keys.get(name),
            KeyType::Map(value) => Some(value),
            KeyType::Any => Some(&ANY),
            _ => None,
        }
    }
}

/// Converts `FRONTLINE__A__B=raw` to the TOML value key `a.b` expects.
pub(super) fn env_override(path: &[String], raw: &str) -> Result<toml::Value, String> {
    if path.iter().any(|p| p.is_empty()) {
        return Err("names no key (use FRONTLINE__SECTION__KEY)".into());
    }
    let mut kind = schema();
    for (i, name) in path.iter().enumerate() {
        let key = path[..=i].join(".");
        kind = match kind.child(name) {
            Some(kind) => kind,
            None if i > 0 && !matches!(kind, KeyType::Section(_)) => {
                return Err(format!("{} is not a section", path[..i].join(".")))
            }
            None => return Err(unknown_key(&key, kind)),
        };
    }
    let key = path.join(".");
    if let KeyType::Section(_) = kind {
        return Err(format!(
            "{key} is a section: set its keys one by one (FRONTLINE__{}__KEY)",
            path.join("__").to_ascii_uppercase()
        ));
    }
    coerce(raw, kind).map_err(|expected| format!("{key} expects {expected}, got {raw:?}"))
}

fn unknown_key(key: &str, section: &KeyType) -> String {
    let secret = [
        ("discord.token", DISCORD_TOKEN_VAR),
        ("slack.bot_token", SLACK_BOT_TOKEN_VAR),
        ("slack.app_token", SLACK_APP_TOKEN_VAR),
        ("slack.signing_secret", SLACK_SIGNING_SECRET_VAR),
        ("web.identity_secret", IDENTITY_SECRET_VAR),
    ];
    if let Some((_, var)) = secret.iter().find(|(k, _)| *k == key) {
        return format!("{key} is not a config key: set {var} instead");
    }
    match section {
        KeyType::Section(keys) => format!(
            "unknown key {key} (known here: {})",
            keys.keys().cloned().collect::<Vec<_>>().join(", ")
        ),
        _ => format!("unknown key {key}"),
    }
}

/// `Err` carries what was expected, for the message.
fn coerce(raw: &str, kind: &KeyType) -> Result<toml::Value, &'static str> {
    use toml::Value;
    let trimmed = raw.trim();
    match kind {
        // Taken as written, so ids stay digits and "09:00" stays text; quotes from a shell
        // habit (`"0.0.0.0:80"`) are removed.
        KeyType::String | KeyType::Any => Ok(Value::String(match parse_toml(trimmed) {
            Some(Value::String(s)) if trimmed.starts_with(['"', '\'']) => s,
            _ => raw.to_string(),
        })),
        KeyType::Bool => match trimmed.to_ascii_lowercase().as_str() {
            "true" => Ok(Value::Boolean(true)),
            "false" => Ok(Value::Boolean(false)),
            _ => Err("true or false"),
        },
        KeyType::Integer => match parse_toml(trimmed) {
            Some(v @ Value::Integer(_)) => Ok(v),
            _ => Err("a whole number"),
        },
        KeyType::Float => match parse_toml(trimmed) {
            Some(v @ Value::Float(_)) => Ok(v),
            Some(Value::Integer(n)) => Ok(Value::Float(n as f64)),
            _ => Err("a number"),
        },
        KeyType::List(item) if trimmed.starts_with('[') => match parse_toml(trimmed) {
            Some(Value::Array(items)) => Ok(Value::Array(
                items
                    .into_iter()
                    .map(|v| match (&**item, v) {
                        // `[600000000000000003]` for a list of ids.
                        (
                            KeyType::String,
                            v @ (Value::Integer(_)
                            | Value::Float(_)
                            | Value::Boolean(_)
                            | Value::Datetime(_)),
                        ) => Value::String(v.to_string()),
                        (_, v) => v,
                    })
                    .collect(),
            )),
            _ => Err("a list: a,b or [\"a\", \"b\"]"),
        },
        KeyType::List(item) => trimmed
            .split(',')
            .map(str::trim)
            .filter(|s| !s.is_empty())
            .map(|s| coerce(s, item))
            .collect::<Result<Vec<_>, _>>()
            .map(Value::Array),
        KeyType::Map(_) => match parse_toml(trimmed) {
            Some(v @ Value::Table(_)) => Ok(v),
            _ => Err("a table: {name = value}, or set its keys one by one"),
        },
        // Refused with a better message by `env_override`.
        KeyType::Section(_) => Err("its keys to be set one by one"),
    }
}

/// `raw` as a TOML value, if it is one.
fn parse_toml(raw: &str) -> Option<toml::Value> {
    format!("v = {raw}")
        .parse::<toml::Table>()
        .ok()
        .and_then(|mut t| t.remove("v"))
}

/// A deserializer that produces placeholder values and writes down, for each field, which type
/// its `Deserialize` impl asked for.
struct Probe<'a>(&'a mut KeyType);

type ProbeError = de::value::Error;

macro_rules! probe_scalars {
    ($($method:ident => $kind:ident, $visit:ident($value:expr);)*) => {$(
        fn $method<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, ProbeError> {
            *self.0 = KeyType::$kind;
            visitor.$visit($value)
        }
    )*};
}

impl<'de> Deserializer<'de> for Probe<'_> {
    type Error = ProbeError;

    probe_scalars! {
        deserialize_bool => Bool, visit_bool(false);
        deserialize_i8 => Integer, visit_i64(0);
        deserialize_i16 => Integer, visit_i64(0);
        deserialize_i32 => Integer, visit_i64(0);
        deserialize_i64 => Integer, visit_i64(0);
        deserialize_i128 => Integer, visit_i64(0);
        deserialize_u8 => Integer, visit_u64(0);
        deserialize_u16 => Integer, visit_u64(0);
        deserialize_u32 => Integer, visit_u64(0);
        deserialize_u64 => Integer, visit_u64(0);
        deserialize_u128 => Integer, visit_u64(0);
        deserialize_f32 => Float, visit_f64(0.0);
        deserialize_f64 => Float, visit_f64(0.0);
        deserialize_char => String, visit_char('x');
        deserialize_str => String, visit_str("");
        deserialize_string => String, visit_str("");
        deserialize_bytes => String, visit_str("");
        deserialize_byte_buf => String, visit_str("");
        deserialize_identifier => String, visit_str("");
    }

    fn deserialize_any<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, ProbeError> {
        *self.0 = KeyType::Any;
        visitor.visit_map(ProbeMap {
            value: None,
            key_done: true,
        })
    }

    fn deserialize_option<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, ProbeError> {
        visitor.visit_some(self)
    }

    fn deserialize_unit<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, ProbeError> {
        *self.0 = KeyType::Any;
        visitor.visit_unit()
    }

    fn deserialize_unit_struct<V: Visitor<'de>>(
        self,
        _name: &'static str,
        visitor: V,
    ) -> Result<V::Value, ProbeError> {
        self.deserialize_unit(visitor)
    }

    fn deserialize_newtype_struct<V: Visitor<'de>>(
        self,
        _name: &'static str,
        visitor: V,
    ) -> Result<V::Value, ProbeError> {
        visitor.visit_newtype_struct(self)
    }

    fn deserialize_seq<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, ProbeError> {
        // An item type the visitor never asks for is taken to be a string.
        let mut item = KeyType::String;
        let value = visitor.visit_seq(ProbeSeq {
            item: Some(&mut item),
        })?;
        *self.0 = KeyType::List(Box::new(item));
        Ok(value)
    }

    fn deserialize_tuple<V: Visitor<'de>>(
        self,
        _len: usize,
        visitor: V,
    ) -> Result<V::Value, ProbeError> {
        self.deserialize_seq(visitor)
    }

    fn deserialize_tuple_struct<V: Visitor<'de>>(
        self,
        _name: &'static str,
        _len: usize,
        visitor: V,
    ) -> Result<V::Value, ProbeError> {
        self.deserialize_seq(visitor)
    }

    fn deserialize_map<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, ProbeError> {
        let mut item = KeyType::Any;
        let value = visitor.visit_map(ProbeMap {
            value: Some(&mut item),
            key_done: false,
        })?;
        *self.0 = KeyType::Map(Box::new(item));
        Ok(value)
    }

    fn deserialize_struct<V: Visitor<'de>>(
        self,
        _name: &'static str,
        fields: &'static [&'static str],
        visitor: V,
    ) -> Result<V::Value, ProbeError> {
        let mut keys = BTreeMap::new();
        let value = visitor.visit_map(ProbeStruct {
            fields,
            next: 0,
            keys: &mut keys,
        })?;
        *self.0 = KeyType::Section(keys);
        Ok(value)
    }

    fn deserialize_enum<V: Visitor<'de>>(
        self,
        _name: &'static str,
        variants: &'static [&'static str],
        visitor: V,
    ) -> Result<V::Value, ProbeError> {
        *self.0 = KeyType::String;
        let first = variants
            .first()
            .ok_or_else(|| de::Error::custom("an enum without variants"))?;
        visitor.visit_enum(de::value::StrDeserializer::<ProbeError>::new(first))
    }

    fn deserialize_ignored_any<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, ProbeError> {
        visitor.visit_unit()
    }
}

/// One item, so the item type gets recorded.
struct ProbeSeq<'a> {
    item: Option<&'a mut KeyType>,
}

impl<'de> de::SeqAccess<'de> for ProbeSeq<'_> {
    type Error = ProbeError;

    fn next_element_seed<T: de::DeserializeSeed<'de>>(
        &mut self,
        seed: T,
    ) -> Result<Option<T::Value>, ProbeError> {
        match self.item.take() {
            Some(item) => seed.deserialize(Probe(item)).map(Some),
            None => Ok(None),
        }
    }
}

/// One entry (or none when `value` is `None`), so the value type gets recorded.
struct ProbeMap<'a> {
    value: Option<&'a mut KeyType>,
    key_done: bool,
}

impl<'de> de::MapAccess<'de> for ProbeMap<'_> {
    type Error = ProbeError;

    fn next_key_seed<K: de::DeserializeSeed<'de>>(
        &mut self,
        seed: K,
    ) -> Result<Option<K::Value>, ProbeError> {
        if self.key_done {
            return Ok(None);
        }
        self.key_done = true;
        // Probing the key too gives a valid placeholder for enum keys.
        seed.deserialize(Probe(&mut KeyType::Any)).map(Some)
    }

    fn next_value_seed<V: de::DeserializeSeed<'de>>(
        &mut self,
        seed: V,
    ) -> Result<V::Value, ProbeError> {
        match self.value.take() {
            Some(value) => seed.deserialize(Probe(value)),
            None => Err(de::Error::custom("a value without a key")),
        }
    }
}

/// Every field of a struct once, recording each field's type under its name.
struct ProbeStruct<'a> {
    fields: &'static [&'static str],
    next: usize,
    keys: &'a mut BTreeMap<String, KeyType>,
}

impl<'de> de::MapAccess<'de> for ProbeStruct<'_> {
    type Error = ProbeError;

    fn next_key_seed<K: de::DeserializeSeed<'de>>(
        &mut self,
        seed: K,
    ) -> Result<Option<K::Value>, ProbeError> {
        match self.fields.get(self.next) {
            Some(field) => seed
                .deserialize(de::value::StrDeserializer::<ProbeError>::new(field))
                .map(Some),
            None => Ok(None),
        }
    }

    fn next_value_seed<V: de::DeserializeSeed<'de>>(
        &mut self,
        seed: V,
    ) -> Result<V::Value, ProbeError> {
        let field = self.fields[self.next];
        self.next += 1;
        let mut kind = KeyType::Any;
        let value = seed.deserialize(Probe(&mut kind))?;
        self.keys.insert(field.to_string(), kind);
        Ok(value)
    }
}

pub(super) fn set_path(
    table: &mut toml::Table,
    path: &[String],
    value: toml::Value,
) -> Result<(), String> {
    match path {
        [] => Err("names no key".into()),
        [key] => {
            table.insert(key.clone(), value);
            Ok(())
        }
        [key, rest @ ..] => {
            let entry = table
                .entry(key.clone())
                .or_insert_with(|| toml::Value::Table(toml::Table::new()));
            match entry {
                toml::Value::Table(inner) => set_path(inner, rest, value),
                _ => Err(format!("'{key}' is not a section")),
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key<'a>(path: &str) -> &'a KeyType {
        path.split('.')
            .fold(schema(), |kind, name| kind.child(name).expect(path))
    }

    #[test]
    fn the_schema_reads_each_key_type_from_the_rust_types() {
        assert_eq!(key("http.bind"), &KeyType::String);
        assert_eq!(key("intents.dir"), &KeyType::String, "a PathBuf");
        assert_eq!(key("intents.watch"), &KeyType::Bool);
        assert_eq!(key("intents.poll_ms"), &KeyType::Integer);
        assert_eq!(key("matcher.target_precision"), &KeyType::Float);
        assert_eq!(key("desk.platform"), &KeyType::String, "an enum");
        assert_eq!(
            key("slack.agent_ids"),
            &KeyType::List(Box::new(KeyType::String))
        );
        assert_eq!(key("vars"), &KeyType::Map(Box::new(KeyType::Any)));
        assert!(matches!(key("discord"), KeyType::Section(_)));
        // Secrets are skipped by serde, so no variable can set them.
        assert!(schema().child("discord").unwrap().child("token").is_none());
    }

    #[test]
    fn values_are_converted_to_the_key_type() {
        use toml::Value;
        let s = |v: &str| Value::String(v.into());
        let list = KeyType::List(Box::new(KeyType::String));
        assert_eq!(
            coerce("600000000000000002", &KeyType::String),
            Ok(s("600000000000000002"))
        );
        assert_eq!(coerce("09:00", &KeyType::String), Ok(s("09:00")));
        assert_eq!(
            coerce("\"0.0.0.0:80\"", &KeyType::String),
            Ok(s("0.0.0.0:80"))
        );
        assert_eq!(coerce("TRUE", &KeyType::Bool), Ok(Value::Boolean(true)));
        assert_eq!(coerce("yes", &KeyType::Bool), Err("true or false"));
        assert_eq!(coerce("42", &KeyType::Integer), Ok(Value::Integer(42)));
        assert_eq!(coerce("4.5", &KeyType::Integer), Err("a whole number"));
        assert_eq!(coerce("1", &KeyType::Float), Ok(Value::Float(1.0)));
        assert_eq!(coerce("U1", &list), Ok(Value::Array(vec![s("U1")])));
        assert_eq!(
            coerce(" U1, U2 ,", &list),
            Ok(Value::Array(vec![s("U1"), s("U2")]))
        );
        assert_eq!(
            coerce("[\"a,b\", 3]", &list),
            Ok(Value::Array(vec![s("a,b"), s("3")]))
        );
        assert_eq!(coerce("", &list), Ok(Value::Array(vec![])));
        assert_eq!(
            coerce("1,x", &KeyType::List(Box::new(KeyType::Integer))),
            Err("a whole number")
        );
    }
}
