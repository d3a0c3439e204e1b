//! GCN Classic text notices and GCN circulars (RFC 822-like text, or the
//! `{"header", "body"}` JSON older hop-clients sent).

use serde_json::{Value, json};

use crate::generate::dice::Dice;
use crate::generate::timestamps::Civil;

const NOTICE_TYPES: &[&str] =
    &["Swift-BAT GRB Position", "Fermi-GBM Final Position", "IceCube Astrotrack Gold", "LVK Preliminary"];
const MONTHS: &[&str] = &["Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"];
const AUTHORS: &[(&str, &str)] = &[
    ("A. Smith", "NASA/GSFC"),
    ("J. Garcia", "Caltech"),
    ("M. Rossi", "INAF"),
    ("K. Tanaka", "U. Tokyo"),
    ("L. Dubois", "CNRS"),
];
const FINDINGS: &[&str] = &[
    "Swift-BAT detection of a long burst",
    "Fermi-GBM observation",
    "optical afterglow candidate",
    "ZTF upper limits",
    "IceCube neutrino search, no counterpart",
];

/// The random parts of a GCN text notice, and its dates as GCN prints them.
pub(crate) struct Notice {
    notice_type: &'static str,
    trigger: u64,
    counts: u64,
    ra: f64,
    dec: f64,
    notice_date: String,
    grb_date: String,
    grb_time: String,
}

impl Notice {
    pub(crate) fn draw(dice: &mut Dice, now: i64) -> Notice {
        let c = Civil::from_ms(now);
        let (yy, month, day) = (c.year % 100, c.month, c.day);
        let (hour, minute, second, centis) = (c.hour, c.minute, c.second, c.milli / 10);
        let month_name = MONTHS[(month - 1) as usize];
        let tjd = c.days + 40_587 - 40_000;
        let sod = hour * 3600 + minute * 60 + second;
        Notice {
            notice_type: dice.pick(NOTICE_TYPES),
            trigger: 1_000_000 + dice.below(9_000_000),
            counts: 100 + dice.below(100_000),
            ra: dice.below(36_000) as f64 / 100.0,
            dec: dice.below(18_000) as f64 / 100.0 - 90.0,
            notice_date: format!("{} {day:02} {month_name} {yy:02} {hour:02}:{minute:02}:{second:02} UT", c.weekday()),
            grb_date: format!("{tjd} TJD;   {} DOY;   {yy:02}/{month:02}/{day:02}", c.day_of_year()),
            grb_time: format!("{sod}.{centis:02} SOD {{{hour:02}:{minute:02}:{second:02}.{centis:02}}} UT"),
        }
    }

    /// The notice, with `comments` as its last `COMMENTS:` text.
    pub(crate) fn text(&self, comments: &str) -> Vec<u8> {
        let (notice_date, notice_type, trigger) = (&self.notice_date, self.notice_type, self.trigger);
        let (ra, dec, counts, grb_date, grb_time) = (self.ra, self.dec, self.counts, &self.grb_date, &self.grb_time);
        format!(
            "TITLE:            GCN/SWIFT NOTICE\n\
             NOTICE_DATE:      {notice_date}\n\
             NOTICE_TYPE:      {notice_type}\n\
             TRIGGER_NUM:      {trigger},   Seg_Num: 0\n\
             GRB_RA:           {ra:.4}d (J2000)\n\
             GRB_DEC:          {dec:+.4}d (J2000)\n\
             GRB_ERROR:        3.00 [arcmin radius, statistical only]\n\
             GRB_INTEN:        {counts} [cnts]\n\
             GRB_DATE:         {grb_date}\n\
             GRB_TIME:         {grb_time}\n\
             COMMENTS:         {comments}\n"
        )
        .into_bytes()
    }
}

/// The random parts of a GCN circular.
pub(crate) struct Circular {
    number: u64,
    subject: String,
    date: String,
    from: String,
    opening: String,
}

impl Circular {
    pub(crate) fn draw(dice: &mut Dice, now: i64) -> Circular {
        let c = Civil::from_ms(now);
        let (yy, month, day, hour, minute, second) = (c.year % 100, c.month, c.day, c.hour, c.minute, c.second);
        let burst = format!("GRB {yy:02}{month:02}{day:02}{}", char::from(b'A' + dice.below(3) as u8));
        let (author, institution) = dice.pick(AUTHORS);
        let email = author.replace(". ", "").to_lowercase();
        Circular {
            number: 43_000 + dice.below(5_000),
            subject: format!("{burst}: {}", dice.pick(FINDINGS)),
            date: format!("{yy:02}/{month:02}/{day:02} {hour:02}:{minute:02}:{second:02} GMT"),
            from: format!("{author} at {institution} <{email}@example.org>"),
            opening: format!(
                "{author} ({institution}) reports on behalf of the team:\n\nWe observed the field of {burst}."
            ),
        }
    }

    /// The circular as RFC 822-like text, `more` appended to its body.
    pub(crate) fn text(&self, more: &str) -> Vec<u8> {
        let (number, subject, date, from, opening) =
            (self.number, &self.subject, &self.date, &self.from, &self.opening);
        format!(
            "TITLE:   GCN CIRCULAR\nNUMBER:  {number}\nSUBJECT: {subject}\nDATE:    {date}\nFROM:    {from}\n\n{opening} {more}\n"
        )
        .into_bytes()
    }

    /// hop-client's JSON rendering (before 0.6).
    pub(crate) fn value(&self, more: &str) -> Value {
        json!({
            "header": {
                "title": "GCN CIRCULAR",
                "number": self.number.to_string(),
                "subject": self.subject,
                "date": self.date,
                "from": self.from,
            },
            "body": format!("{} {more}", self.opening),
        })
    }
}
