//! Filler text that brings a payload to an exact size. Filler is plain
//! ASCII without quotes, backslashes or markup, so it lands in JSON strings
//! and XML text verbatim and each character adds exactly one byte.

use crate::generate::dice::Dice;

/// 64 words, so a random byte picks one without bias.
const WORDS: [&str; 64] = [
    "the",
    "source",
    "optical",
    "counterpart",
    "was",
    "observed",
    "with",
    "magnitude",
    "follow-up",
    "telescope",
    "candidate",
    "localization",
    "region",
    "neutrino",
    "gravitational",
    "wave",
    "burst",
    "spectrum",
    "redshift",
    "we",
    "report",
    "detection",
    "of",
    "an",
    "afterglow",
    "in",
    "image",
    "exposure",
    "limit",
    "upper",
    "filter",
    "archive",
    "trigger",
    "significance",
    "coincident",
    "field",
    "survey",
    "transient",
    "host",
    "galaxy",
    "photometry",
    "band",
    "infrared",
    "x-ray",
    "gamma-ray",
    "radio",
    "epoch",
    "fading",
    "brightening",
    "position",
    "error",
    "circle",
    "arcsec",
    "catalog",
    "star",
    "no",
    "new",
    "sources",
    "detected",
    "within",
    "our",
    "observations",
    "are",
    "ongoing",
];
/// Words drawn per call to the generator: one call per word would make
/// kilobytes of filler the slowest part of a debug build.
const WORD_BATCH: usize = 64;

const BASE64: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

/// The length of the random part of [`Filler::Base64`].
const BASE64_BLOCK: usize = 4096;

#[derive(Debug, Clone, Copy)]
pub(crate) enum Filler {
    /// Words and spaces, on one line.
    Words,
    /// Words in lines of about 70 characters, for text formats.
    Prose,
    /// Base64 characters, like an encoded sky map.
    Base64,
}

impl Filler {
    /// Exactly `len` bytes of filler.
    pub(crate) fn text(self, dice: &mut Dice, len: usize) -> String {
        match self {
            Filler::Words | Filler::Prose => words(dice, len, matches!(self, Filler::Prose)),
            Filler::Base64 => base64(dice, len),
        }
    }
}

fn words(dice: &mut Dice, len: usize, lines: bool) -> String {
    let mut text = String::with_capacity(len + 16);
    let mut line_start = 0;
    while text.len() < len {
        for byte in dice.bytes(WORD_BATCH) {
            if !text.is_empty() {
                let wrap = lines && text.len() - line_start > 70;
                text.push(if wrap { '\n' } else { ' ' });
                if wrap {
                    line_start = text.len();
                }
            }
            text.push_str(WORDS[usize::from(byte & 63)]);
        }
    }
    text.truncate(len);
    text
}

/// A random base64 block repeated to `len`: a sky map's worth of random
/// bytes would cost more than it tests.
fn base64(dice: &mut Dice, len: usize) -> String {
    let block: String =
        dice.bytes(len.min(BASE64_BLOCK)).iter().map(|b| char::from(BASE64[usize::from(b & 63)])).collect();
    let mut text = block.repeat(len.div_ceil(BASE64_BLOCK));
    text.truncate(len);
    text
}

/// `render(filler)` with filler making it exactly `target` bytes, or
/// `render("")` when that is already `target` bytes or more: filler only
/// pads, it never cuts content.
pub(crate) fn sized(dice: &mut Dice, target: usize, filler: Filler, render: impl Fn(&str) -> Vec<u8>) -> Vec<u8> {
    let bare = render("");
    if bare.len() >= target {
        return bare;
    }
    render(&filler.text(dice, target - bare.len()))
}
