//! Closed vocabularies spelled one way: each variant of a status, state or channel has one
//! lower-case name, the same in the API's JSON, in the database and in log fields. The
//! [`named_enum!`] macro writes such an enum from a table of variants and names, so a name is
//! stated once; it gives `ALL`, `as_str`, `parse`, `Display`, `FromStr` and serde under the same
//! names.

/// A name that is none of an enum's variants.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown {what} {name:?}")]
pub struct UnknownName {
    /// What was being named, e.g. `message status`.
    pub what: &'static str,
    /// The name as given, cut to 64 characters (it may come from outside).
    pub name: String,
}

impl UnknownName {
    pub fn new(what: &'static str, name: &str) -> UnknownName {
        UnknownName {
            what,
            name: name.chars().take(64).collect(),
        }
    }
}

/// Writes an enum whose variants each have one exact name:
///
/// ```ignore
/// named_enum! {
///     /// Which way a message went.
///     pub enum Direction("message direction") {
///         Inbound = "inbound",
///         Outbound = "outbound",
///     }
/// }
/// ```
macro_rules! named_enum {
    (
        $(#[$meta:meta])*
        pub enum $name:ident($what:literal) {
            $( $(#[$variant_meta:meta])* $variant:ident = $text:literal, )+
        }
    ) => {
        $(#[$meta])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
        pub enum $name {
            $( $(#[$variant_meta])* #[serde(rename = $text)] $variant, )+
        }

        impl $name {
            /// Every variant, in the order declared.
            pub const ALL: &'static [$name] = &[$($name::$variant),+];

            /// The name, as stored and as the API spells it.
            pub const fn as_str(self) -> &'static str {
                match self {
                    $( $name::$variant => $text, )+
                }
            }

            /// The variant with exactly this name (case and spaces count).
            pub fn parse(name: &str) -> Result<$name, $crate::named::UnknownName> {
                match name {
                    $( $text => Ok($name::$variant), )+
                    _ => Err($crate::named::UnknownName::new($what, name)),
                }
            }
        }

        impl std::fmt::Display for $name {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str(self.as_str())
            }
        }

        impl std::str::FromStr for $name {
            type Err = $crate::named::UnknownName;

            fn from_str(name: &str) -> Result<$name, $crate::named::UnknownName> {
                $name::parse(name)
            }
        }
    };
}

pub(crate) use named_enum;

/// Checks shared by the enums' own tests.
#[cfg(test)]
pub(crate) mod check {
    use std::fmt::{Debug, Display};
    use std::str::FromStr;

    use serde::Serialize;
    use serde::de::DeserializeOwned;

    /// `all` are spelled `names`, in order, and each name reads back as its variant through
    /// `FromStr` and serde.
    pub(crate) fn round_trips<T>(all: &[T], names: &[&str])
    where
        T: Copy + PartialEq + Debug + Display + FromStr + Serialize + DeserializeOwned,
        T::Err: Debug,
    {
        let spelled: Vec<String> = all.iter().map(ToString::to_string).collect();
        assert_eq!(spelled, names);
        for &value in all {
            let name = value.to_string();
            assert_eq!(name.parse::<T>().unwrap(), value);
            let json = serde_json::to_value(value).unwrap();
            assert_eq!(json, serde_json::json!(name));
            assert_eq!(serde_json::from_value::<T>(json).unwrap(), value);
        }
    }

    /// None of `names` is a `T`, through `FromStr` or serde.
    pub(crate) fn refused<T>(names: &[&str])
    where
        T: Debug + FromStr + DeserializeOwned,
        T::Err: Display,
    {
        for name in names {
            let error = name.parse::<T>().err();
            assert!(error.is_some(), "{name:?} parsed");
            assert!(error.unwrap().to_string().contains("unknown"));
            assert!(serde_json::from_value::<T>(serde_json::json!(name)).is_err());
        }
    }
}
