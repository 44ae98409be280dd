//! Reads a date of birth that a patient texted while verifying their identity.
//!
//! Owns the accepted formats: MM/DD/YYYY, also with a single-digit month or day, and with `-` or
//! `.` instead of `/` (the same separator twice), with white space around it allowed. It never
//! guesses: a two-digit year, a day-first order, words, or anything around the date is refused,
//! because a wrong guess could enable texting for the wrong person and a refusal only costs the
//! patient one attempt with a retry prompt that shows the format.
//!
//! It never logs or returns the text (it may hold a date of birth), has no I/O and no clock: the
//! only bound on the year is the lower one, 1900.

use chrono::NaiveDate;

/// The separators a texted date may use, one kind per date.
pub const SEPARATORS: [char; 3] = ['/', '-', '.'];

/// The earliest year of birth accepted.
pub const MIN_YEAR: i32 = 1900;

/// The date in `text`, when the whole text (less surrounding white space) is a date of birth in
/// an accepted format and the date exists.
#[must_use]
pub fn parse_texted_dob(text: &str) -> Option<NaiveDate> {
    let text = text.trim();
    // The first character that is not a digit decides the separator for the whole date.
    let separator = text.chars().find(|c| !c.is_ascii_digit())?;
    if !SEPARATORS.contains(&separator) {
        return None;
    }
    let mut parts = text.split(separator);
    let (month, day, year) = (parts.next()?, parts.next()?, parts.next()?);
    if parts.next().is_some() {
        return None;
    }
    let month = digits(month, 1..=2)?;
    let day = digits(day, 1..=2)?;
    let year = i32::try_from(digits(year, 4..=4)?).ok()?;
    if year < MIN_YEAR {
        return None;
    }
    NaiveDate::from_ymd_opt(year, month, day)
}

/// The value of `part` when it is only ASCII digits and their count is in `count`.
fn digits(part: &str, count: std::ops::RangeInclusive<usize>) -> Option<u32> {
    if !count.contains(&part.len()) || !part.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    part.parse().ok()
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::Datelike;
    use proptest::prelude::*;

    fn date(y: i32, m: u32, d: u32) -> NaiveDate {
        NaiveDate::from_ymd_opt(y, m, d).unwrap()
    }

    /// Every accepted rendering of `date`: three separators, month and day padded or not.
    fn renderings(date: NaiveDate) -> Vec<String> {
        let mut out = Vec::new();
        for separator in SEPARATORS {
            for pad_month in [true, false] {
                for pad_day in [true, false] {
                    let month = if pad_month {
                        format!("{:02}", date.month())
                    } else {
                        date.month().to_string()
                    };
                    let day = if pad_day {
                        format!("{:02}", date.day())
                    } else {
                        date.day().to_string()
                    };
                    out.push(format!(
                        "{month}{separator}{day}{separator}{:04}",
                        date.year()
                    ));
                }
            }
        }
        out
    }

    #[test]
    fn padded_slash_dates_are_accepted() {
        assert_eq!(parse_texted_dob("01/05/1950"), Some(date(1950, 1, 5)));
        assert_eq!(parse_texted_dob("12/31/1999"), Some(date(1999, 12, 31)));
    }

    #[test]
    fn single_digit_month_or_day_is_accepted() {
        assert_eq!(parse_texted_dob("1/5/1950"), Some(date(1950, 1, 5)));
        assert_eq!(parse_texted_dob("1/15/1950"), Some(date(1950, 1, 15)));
        assert_eq!(parse_texted_dob("11/5/1950"), Some(date(1950, 11, 5)));
    }

    #[test]
    fn dash_and_dot_separators_are_accepted() {
        assert_eq!(parse_texted_dob("01-05-1950"), Some(date(1950, 1, 5)));
        assert_eq!(parse_texted_dob("1.5.1950"), Some(date(1950, 1, 5)));
        assert_eq!(parse_texted_dob("10.25.1961"), Some(date(1961, 10, 25)));
    }

    #[test]
    fn surrounding_white_space_is_accepted() {
        assert_eq!(parse_texted_dob("  01/05/1950\n"), Some(date(1950, 1, 5)));
        assert_eq!(parse_texted_dob("\t1-5-1950 \r\n"), Some(date(1950, 1, 5)));
        assert_eq!(
            parse_texted_dob("\u{00A0}1.5.1950\u{2003}"),
            Some(date(1950, 1, 5))
        );
    }

    #[test]
    fn leap_days_are_accepted_only_in_leap_years() {
        assert_eq!(parse_texted_dob("2/29/2000"), Some(date(2000, 2, 29)));
        assert_eq!(parse_texted_dob("02/29/1988"), Some(date(1988, 2, 29)));
        assert_eq!(parse_texted_dob("2/29/1900"), None);
        assert_eq!(parse_texted_dob("02/29/1990"), None);
    }

    #[test]
    fn the_first_accepted_year_is_1900() {
        assert_eq!(parse_texted_dob("01/01/1900"), Some(date(1900, 1, 1)));
        assert_eq!(parse_texted_dob("12/31/1899"), None);
        assert_eq!(parse_texted_dob("01/01/0000"), None);
    }

    #[test]
    fn a_two_digit_year_is_refused() {
        for text in [
            "01/05/50",
            "1/5/50",
            "1-5-50",
            "1.5.50",
            "01/05/1",
            "01/05/195",
        ] {
            assert_eq!(parse_texted_dob(text), None, "{text:?}");
        }
    }

    #[test]
    fn impossible_dates_are_refused() {
        for text in [
            "02/30/1990",
            "2/31/1990",
            "04/31/1990",
            "13/01/1990",
            "00/10/1990",
            "01/00/1990",
            "01/32/1990",
            "31/12/1990",
        ] {
            assert_eq!(parse_texted_dob(text), None, "{text:?}");
        }
    }

    #[test]
    fn mixed_or_unknown_separators_are_refused() {
        for text in [
            "01/05-1950",
            "01-05/1950",
            "1.5/1950",
            "01 05 1950",
            "01 / 05 / 1950",
            "01\\05\\1950",
            "01,05,1950",
            "01_05_1950",
            "01051950",
        ] {
            assert_eq!(parse_texted_dob(text), None, "{text:?}");
        }
    }

    #[test]
    fn wrong_digit_counts_and_extra_parts_are_refused() {
        for text in [
            "001/05/1950",
            "01/005/1950",
            "01/05/01950",
            "1/5/19500",
            "//1950",
            "01//1950",
            "/01/05/1950",
            "01/05/1950/",
            "01/05/1950/12",
            "1950-01-05",
            "1950/01/05",
        ] {
            assert_eq!(parse_texted_dob(text), None, "{text:?}");
        }
    }

    #[test]
    fn anything_around_the_date_is_refused() {
        for text in [
            "01/05/1950.",
            "01/05/1950!",
            "dob 01/05/1950",
            "01/05/1950 thanks",
            "+1/05/1950",
            "-1/05/1950",
            "Jan 5 1950",
            "January 5, 1950",
            "",
            "   ",
            "STOP",
        ] {
            assert_eq!(parse_texted_dob(text), None, "{text:?}");
        }
    }

    #[test]
    fn non_ascii_digits_are_refused() {
        assert_eq!(parse_texted_dob("０１/05/1950"), None);
        assert_eq!(parse_texted_dob("٠١/٠٥/١٩٥٠"), None);
    }

    #[test]
    fn every_accepted_rendering_of_a_date_parses_back_to_it() {
        let dob = date(1950, 1, 5);
        let all = renderings(dob);
        assert_eq!(all.len(), 12);
        for text in all {
            assert_eq!(parse_texted_dob(&text), Some(dob), "{text:?}");
        }
    }

    proptest! {
        #[test]
        fn parse_texted_dob_never_panics(text in any::<String>()) {
            let _ = parse_texted_dob(&text);
        }

        #[test]
        fn parse_texted_dob_never_panics_on_date_shaped_text(text in "[0-9/.\\- ]{0,16}") {
            let _ = parse_texted_dob(&text);
        }

        #[test]
        fn any_valid_date_in_any_accepted_format_parses_back_to_itself(
            days in 0i64..(8100 * 366),
            separator in 0usize..3,
            pad_month in any::<bool>(),
            pad_day in any::<bool>(),
            before in "[ \t\n]{0,2}",
            after in "[ \t\n]{0,2}",
        ) {
            let dob = date(1900, 1, 1) + chrono::Days::new(days as u64);
            prop_assume!(dob.year() <= 9999);
            let index = separator * 4 + usize::from(!pad_month) * 2 + usize::from(!pad_day);
            let text = format!("{before}{}{after}", renderings(dob)[index]);
            prop_assert_eq!(parse_texted_dob(&text), Some(dob));
        }

        #[test]
        fn a_two_digit_year_never_parses(m in 1u32..=12, d in 1u32..=31, y in 0u32..100, s in 0usize..3) {
            let sep = SEPARATORS[s];
            let text = format!("{m}{sep}{d}{sep}{y:02}");
            prop_assert_eq!(parse_texted_dob(&text), None);
        }

        #[test]
        fn whatever_parses_is_in_or_after_1900(text in "[0-9]{1,2}[/.\\-][0-9]{1,2}[/.\\-][0-9]{4}") {
            if let Some(dob) = parse_texted_dob(&text) {
                prop_assert!(dob.year() >= MIN_YEAR);
            }
        }
    }
}
