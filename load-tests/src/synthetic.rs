//! Synthetic patients: names, dates of birth (and the ways a patient might text them) and mobile
//! numbers, all derived from a patient's index and a per-run tag so that runs against one gateway
//! do not collide. Nothing here is real data. Pure: no I/O.

/// One synthetic patient.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Synthetic {
    pub index: usize,
    pub first_name: String,
    pub last_name: String,
    pub year: u32,
    pub month: u32,
    pub day: u32,
    /// E.164, in the fictional 555 exchange range.
    pub mobile: String,
}

impl Synthetic {
    /// Patient `index` of the run tagged `run_tag` (taken modulo 1000; 555 is skipped because the
    /// demo patients live there).
    pub fn new(run_tag: u32, index: usize) -> Synthetic {
        let mut tag = run_tag % 1000;
        if tag == 555 {
            tag = 556;
        }
        let i = index as u32;
        Synthetic {
            index,
            first_name: "Load".into(),
            last_name: format!("Patient{index}"),
            year: 1940 + i % 60,
            month: 1 + i % 12,
            day: 1 + (i / 12) % 28,
            mobile: format!("+1555{tag:03}{:04}", i % 10_000),
        }
    }

    /// `YYYY-MM-DD`, as the admin API takes it.
    pub fn dob_iso(&self) -> String {
        format!("{:04}-{:02}-{:02}", self.year, self.month, self.day)
    }

    /// The date of birth as the patient texts it, in one of the accepted spellings (chosen by
    /// index, so a run exercises all of them).
    pub fn dob_text(&self) -> String {
        let (y, m, d) = (self.year, self.month, self.day);
        match self.index % 4 {
            0 => format!("{m:02}/{d:02}/{y}"),
            1 => format!("{m}/{d}/{y}"),
            2 => format!("{m:02}-{d:02}-{y}"),
            _ => format!(" {m}.{d}.{y} "),
        }
    }

    /// A date that is not the patient's (one year later), as a wrong answer.
    pub fn wrong_dob_text(&self) -> String {
        format!("{:02}/{:02}/{}", self.month, self.day, self.year + 1)
    }
}

/// The text of conversation message `n`: plain words, no keyword, no opt-out word, no date.
pub fn conversation_text(n: u64) -> String {
    format!("load test message {n}: feeling fine today, blood pressure looked normal")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn numbers_are_distinct_within_a_run_and_avoid_the_demo_range() {
        let numbers: std::collections::HashSet<String> =
            (0..1000).map(|i| Synthetic::new(123, i).mobile).collect();
        assert_eq!(numbers.len(), 1000);
        assert_eq!(Synthetic::new(123, 7).mobile, "+15551230007");
        assert!(Synthetic::new(555, 42).mobile.starts_with("+1555556"));
    }

    #[test]
    fn dates_are_valid_and_spelled_in_every_accepted_way() {
        for i in 0..100 {
            let p = Synthetic::new(1, i);
            assert!((1..=12).contains(&p.month) && (1..=28).contains(&p.day));
            assert_eq!(p.dob_iso().len(), 10);
            assert_ne!(p.dob_text().trim(), p.wrong_dob_text());
        }
        let p = Synthetic::new(1, 13);
        assert_eq!(p.dob_iso(), "1953-02-02");
        assert_eq!(p.dob_text(), "2/2/1953");
        assert_eq!(p.wrong_dob_text(), "02/02/1954");
    }

    #[test]
    fn conversation_texts_carry_no_keyword() {
        let text = conversation_text(5).to_lowercase();
        for word in [
            "stop",
            "end",
            "quit",
            "cancel",
            "help",
            "start",
            "yes",
            "unsubscribe",
        ] {
            assert!(
                !text
                    .split(|c: char| !c.is_alphanumeric())
                    .any(|w| w == word),
                "{word}"
            );
        }
    }
}
