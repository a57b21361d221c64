//! Working days, as the recording rules count them: Monday to Friday, minus public holidays,
//! plus the weekend days declared working days to make up for them (调休). One data file per
//! year (format: `deploy/calendar/README.md`), because holidays are announced yearly.
//!
//! The deadline rule: a recording must reach the store within `N` working days after the
//! on-site work ends. Counted in the agency's local time: the work ends on day D; the deadline
//! is the end (24:00 local) of the N-th working day after D.

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;

use anyhow::{Context, bail};
use chrono::{DateTime, Datelike, Duration, FixedOffset, NaiveDate, TimeZone, Utc, Weekday};
use serde::Deserialize;

/// A span of days off.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Holiday {
    pub from: NaiveDate,
    pub to: NaiveDate,
    pub name: String,
}

/// A weekend day that is a working day.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Workday {
    pub date: NaiveDate,
    pub name: String,
}

/// One year's data file.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct YearFile {
    pub year: i32,
    pub region: String,
    /// Where the dates come from (the official notice).
    pub source: String,
    #[serde(default)]
    pub holidays: Vec<Holiday>,
    #[serde(default)]
    pub workdays: Vec<Workday>,
}

impl YearFile {
    /// Parses and checks one file's text; `origin` names it in errors.
    ///
    /// # Errors
    /// Not TOML of this shape, a date outside `year`, a span ending before it starts, a make-up
    /// day that is not a weekend day or falls inside a holiday.
    pub fn parse(text: &str, origin: &str) -> anyhow::Result<Self> {
        let f: YearFile = toml::from_str(text).with_context(|| format!("{origin}: not a calendar year file"))?;
        for h in &f.holidays {
            if h.to < h.from {
                bail!("{origin}: holiday \"{}\" ends ({}) before it starts ({})", h.name, h.to, h.from);
            }
            for d in [h.from, h.to] {
                if d.year() != f.year {
                    bail!("{origin}: holiday \"{}\" date {d} is not in year {}", h.name, f.year);
                }
            }
        }
        for w in &f.workdays {
            if w.date.year() != f.year {
                bail!("{origin}: make-up working day {} (\"{}\") is not in year {}", w.date, w.name, f.year);
            }
            if !matches!(w.date.weekday(), Weekday::Sat | Weekday::Sun) {
                bail!(
                    "{origin}: make-up working day {} (\"{}\") is a {:?}, already a working day; list only weekend days",
                    w.date,
                    w.name,
                    w.date.weekday()
                );
            }
            if f.holidays.iter().any(|h| h.from <= w.date && w.date <= h.to) {
                bail!("{origin}: {} is both a holiday and a make-up working day", w.date);
            }
        }
        Ok(f)
    }
}

/// The calendar: every loaded year.
#[derive(Debug, Clone, Default)]
pub struct Calendar {
    off: BTreeSet<NaiveDate>,
    on: BTreeSet<NaiveDate>,
    years: BTreeMap<i32, String>,
}

impl Calendar {
    /// Loads year files.
    ///
    /// # Errors
    /// Unreadable or invalid file, two files for one year.
    pub fn load(paths: &[impl AsRef<Path>]) -> anyhow::Result<Self> {
        let mut c = Self::default();
        for p in paths {
            let p = p.as_ref();
            let text = std::fs::read_to_string(p).with_context(|| format!("read calendar {}", p.display()))?;
            c.add(YearFile::parse(&text, &p.display().to_string())?)?;
        }
        Ok(c)
    }

    /// Adds one year.
    ///
    /// # Errors
    /// The year is already loaded.
    pub fn add(&mut self, f: YearFile) -> anyhow::Result<()> {
        if let Some(prev) = self.years.get(&f.year) {
            bail!("two calendar files for {}: {prev} and {}", f.year, f.source);
        }
        for h in &f.holidays {
            let mut d = h.from;
            while d <= h.to {
                self.off.insert(d);
                d += Duration::days(1);
            }
        }
        self.on.extend(f.workdays.iter().map(|w| w.date));
        self.years.insert(f.year, f.source);
        Ok(())
    }

    /// Whether a data file covers `year` (else only weekends are known for it).
    pub fn covers(&self, year: i32) -> bool {
        self.years.contains_key(&year)
    }

    pub fn years(&self) -> impl Iterator<Item = i32> + '_ {
        self.years.keys().copied()
    }

    pub fn is_working_day(&self, d: NaiveDate) -> bool {
        if self.on.contains(&d) {
            return true;
        }
        if self.off.contains(&d) {
            return false;
        }
        !matches!(d.weekday(), Weekday::Sat | Weekday::Sun)
    }

    /// The `n`-th working day after `day` (n = 0: `day` itself).
    pub fn nth_working_day_after(&self, day: NaiveDate, n: u32) -> NaiveDate {
        let mut d = day;
        let mut left = n;
        while left > 0 {
            d += Duration::days(1);
            if self.is_working_day(d) {
                left -= 1;
            }
        }
        d
    }

    /// Working days in `year` (for the validation summary).
    pub fn working_days_in(&self, year: i32) -> usize {
        let Some(mut d) = NaiveDate::from_ymd_opt(year, 1, 1) else { return 0 };
        let mut n = 0;
        while d.year() == year {
            if self.is_working_day(d) {
                n += 1;
            }
            d += Duration::days(1);
        }
        n
    }
}

/// The deadline rule.
#[derive(Debug, Clone, Copy)]
pub struct Rule {
    pub working_days: u32,
    pub offset: FixedOffset,
}

/// When a recording whose on-site work ended at `ended` must be in the store: the end (24:00
/// local) of the `rule.working_days`-th working day after the local day of `ended`. Also
/// returns whether the calendar covered every year counted through.
pub fn deadline(cal: &Calendar, rule: Rule, ended: DateTime<Utc>) -> (DateTime<Utc>, bool) {
    let local_day = ended.with_timezone(&rule.offset).date_naive();
    let due_day = cal.nth_working_day_after(local_day, rule.working_days);
    let covered = (local_day.year()..=due_day.year()).all(|y| cal.covers(y));
    let midnight = (due_day + Duration::days(1)).and_hms_opt(0, 0, 0).unwrap_or_default();
    let due = rule.offset.from_local_datetime(&midnight).single().map_or(ended, |t| t.with_timezone(&Utc));
    (due, covered)
}

/// Parses `+08:00` / `-05:00` / `Z`.
///
/// # Errors
/// Not an offset.
pub fn parse_offset(s: &str) -> anyhow::Result<FixedOffset> {
    if s == "Z" || s == "+00:00" {
        return FixedOffset::east_opt(0).context("offset");
    }
    let (sign, rest) = match s.split_at_checked(1) {
        Some(("+", r)) => (1, r),
        Some(("-", r)) => (-1, r),
        _ => bail!("utc_offset \"{s}\" must look like +08:00"),
    };
    let (h, m) = rest.split_once(':').with_context(|| format!("utc_offset \"{s}\" must look like +08:00"))?;
    let secs = sign * (h.parse::<i32>()? * 3600 + m.parse::<i32>()? * 60);
    FixedOffset::east_opt(secs).with_context(|| format!("utc_offset \"{s}\" is out of range"))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn d(s: &str) -> NaiveDate {
        s.parse().expect("date")
    }

    fn cal() -> Calendar {
        // Test data (not an official calendar): a holiday block over a weekend with make-up
        // Saturdays, and a year boundary.
        let y2026 = r#"
year = 2026
region = "TEST"
source = "test data"
holidays = [ { from = "2026-10-01", to = "2026-10-07", name = "autumn block" },
             { from = "2026-12-31", to = "2026-12-31", name = "eve" } ]
workdays = [ { date = "2026-09-27", name = "make-up Sunday" }, { date = "2026-10-10", name = "make-up Saturday" } ]
"#;
        let y2027 = r#"
year = 2027
region = "TEST"
source = "test data"
holidays = [ { from = "2027-01-01", to = "2027-01-03", name = "new year" } ]
"#;
        let mut c = Calendar::default();
        c.add(YearFile::parse(y2026, "2026").expect("parse")).expect("add");
        c.add(YearFile::parse(y2027, "2027").expect("parse")).expect("add");
        c
    }

    #[test]
    fn weekends_holidays_and_make_up_days() {
        let c = cal();
        assert!(c.is_working_day(d("2026-11-27")), "Friday");
        assert!(!c.is_working_day(d("2026-11-28")), "Saturday");
        assert!(!c.is_working_day(d("2026-10-05")), "Monday inside the holiday block");
        assert!(c.is_working_day(d("2026-10-10")), "make-up Saturday");
        assert!(c.is_working_day(d("2026-09-27")), "make-up Sunday");
    }

    #[test]
    fn deadlines_count_working_days_in_local_time() {
        let c = cal();
        let rule = Rule { working_days: 2, offset: parse_offset("+08:00").expect("offset") };
        // Friday 2026-11-27 20:00 local (12:00 UTC) → Mon 30 (1), Tue Dec 1 (2) → due Dec 2 00:00 local.
        let (due, covered) = deadline(&c, rule, "2026-11-27T12:00:00Z".parse().expect("t"));
        assert_eq!(due, "2026-12-01T16:00:00Z".parse::<DateTime<Utc>>().expect("t"));
        assert!(covered);
        // 23:30 UTC Friday is already Saturday in +08:00: counted from Saturday → Mon, Tue.
        let (due, _) = deadline(&c, rule, "2026-11-27T23:30:00Z".parse().expect("t"));
        assert_eq!(due, "2026-12-01T16:00:00Z".parse::<DateTime<Utc>>().expect("t"));
        // Before the holiday block: Wed Sep 30 → (Oct 1-7 off) → Thu Oct 8 (1), Fri Oct 9 (2).
        let (due, _) = deadline(&c, rule, "2026-09-30T02:00:00Z".parse().expect("t"));
        assert_eq!(due, "2026-10-09T16:00:00Z".parse::<DateTime<Utc>>().expect("t"));
        // Make-up Saturday counts: Fri Oct 9 → Sat Oct 10 (1), Mon Oct 12 (2).
        let (due, _) = deadline(&c, rule, "2026-10-09T02:00:00Z".parse().expect("t"));
        assert_eq!(due, "2026-10-12T16:00:00Z".parse::<DateTime<Utc>>().expect("t"));
        // Year boundary: Wed Dec 30 → (Dec 31 off, Jan 1-3 off) → Mon Jan 4 (1), Tue Jan 5 (2).
        let (due, covered) = deadline(&c, rule, "2026-12-30T02:00:00Z".parse().expect("t"));
        assert_eq!(due, "2027-01-05T16:00:00Z".parse::<DateTime<Utc>>().expect("t"));
        assert!(covered);
        // A year without a file: weekends only, and said so.
        let (_, covered) = deadline(&c, rule, "2028-03-01T02:00:00Z".parse().expect("t"));
        assert!(!covered);
    }

    #[test]
    fn bad_files_are_refused_with_the_reason() {
        let e = YearFile::parse(
            "year = 2026\nregion = \"X\"\nsource = \"s\"\nworkdays = [ { date = \"2026-11-25\", name = \"w\" } ]\n",
            "f",
        )
        .expect_err("a Wednesday is not a make-up day")
        .to_string();
        assert!(e.contains("already a working day"), "{e}");
        let e = YearFile::parse("year = 2026\nregion = \"X\"\nsource = \"s\"\nholidays = [ { from = \"2027-01-01\", to = \"2027-01-02\", name = \"h\" } ]\n", "f")
            .expect_err("wrong year")
            .to_string();
        assert!(e.contains("not in year 2026"), "{e}");
        assert!(parse_offset("8").is_err());
    }
}
