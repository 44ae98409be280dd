//! Text columns that hold a name from one of the `types` crate's vocabularies (a texting
//! status, a message's channel, direction or status, an outbox, alert or email state). Rows read
//! them straight into the enum, so the conversion happens once, here: a name the enum does not
//! know is a [`StoreError`], never a default or a panic. They are written as the same name, so
//! the database keeps the text it always has.

use types::{
    AlertState, Channel, Direction, EmailState, MessageStatus, OutboxState, TextingStatus,
};

use crate::StoreResult;
use crate::error::StoreError;
use crate::sql::{Arg, Col, ToArg};

macro_rules! named_column {
    ($t:ty) => {
        impl Col for $t {
            fn from_pg(row: &tokio_postgres::Row, i: usize) -> StoreResult<Self> {
                parse(String::from_pg(row, i)?)
            }
            fn from_pg_opt(row: &tokio_postgres::Row, i: usize) -> StoreResult<Option<Self>> {
                String::from_pg_opt(row, i)?.map(parse).transpose()
            }
            fn from_lite(v: &rusqlite::types::Value) -> StoreResult<Self> {
                parse(String::from_lite(v)?)
            }
        }

        impl ToArg for $t {
            fn arg(&self) -> Arg<'_> {
                Arg::Text(Some(self.as_str()))
            }
            fn null() -> Arg<'static> {
                Arg::Text(None)
            }
        }
    };
}

named_column!(TextingStatus);
named_column!(Channel);
named_column!(Direction);
named_column!(MessageStatus);
named_column!(OutboxState);
named_column!(AlertState);
named_column!(EmailState);

fn parse<T>(name: String) -> StoreResult<T>
where
    T: std::str::FromStr,
    T::Err: std::fmt::Display,
{
    name.parse()
        .map_err(|e| StoreError::Unexpected(format!("unreadable column: {e}")))
}

#[cfg(test)]
mod tests {
    use rusqlite::types::Value;

    use super::*;

    #[test]
    fn a_known_name_reads_as_its_variant() {
        let read = MessageStatus::from_lite(&Value::Text("partially_delivered".into()));
        assert_eq!(read.unwrap(), MessageStatus::PartiallyDelivered);
        let read = Option::<AlertState>::from_lite(&Value::Null);
        assert_eq!(read.unwrap(), None);
    }

    #[test]
    fn an_unknown_name_is_an_error_not_a_default() {
        let read = TextingStatus::from_lite(&Value::Text("maybe".into()));
        match read {
            Err(StoreError::Unexpected(message)) => {
                assert_eq!(
                    message,
                    "unreadable column: unknown texting status \"maybe\""
                );
            }
            other => panic!("{other:?}"),
        }
        assert!(Channel::from_lite(&Value::Integer(1)).is_err());
    }

    #[test]
    fn a_variant_is_written_as_its_name() {
        assert!(matches!(
            OutboxState::Cancelled.arg(),
            Arg::Text(Some("cancelled"))
        ));
        assert!(matches!(EmailState::null(), Arg::Text(None)));
    }
}
