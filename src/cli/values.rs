//! Option values that are more than a number or a name: a bandwidth, a list of widths, an
//! image shape. Each parses from the command line (its `value_parser`) and from a `--config`
//! TOML file (serde), with the same rules. A parser's error says what is wrong with the value;
//! the caller names the option (see `super::clap_error_line`).

use std::fmt;
use std::str::FromStr;

use serde::de::{self, Deserializer, Visitor};
use stein::svgd::Bandwidth;

/// `median`, `median-sampled` or a positive number h.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct BandwidthArg(pub Bandwidth);

impl FromStr for BandwidthArg {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        match s {
            "median" => return Ok(Self(Bandwidth::Median)),
            "median-sampled" => return Ok(Self(Bandwidth::MedianSampled)),
            _ => {}
        }
        match s.parse::<f64>() {
            // Whether f32 can use h is the library's check (`stein::run::svgd::check_bandwidth`).
            Ok(h) if h > 0.0 && h.is_finite() => Ok(Self(Bandwidth::Fixed(h))),
            _ => Err(format!(
                "--bandwidth `{s}` is neither `median`, `median-sampled` nor a positive number"
            )),
        }
    }
}

/// Hidden widths of a network, `256,256`.
#[derive(Clone, Debug, PartialEq)]
pub struct Widths(pub Vec<usize>);

impl FromStr for Widths {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        s.split(',')
            .map(|v| v.trim().parse().ok().filter(|&w: &usize| w >= 1))
            .collect::<Option<Vec<usize>>>()
            .map(Widths)
            .ok_or_else(|| "must list positive integers, e.g. 256,256".into())
    }
}

impl fmt::Display for Widths {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let w: Vec<String> = self.0.iter().map(|v| v.to_string()).collect();
        f.write_str(&w.join(","))
    }
}

/// Image shape `ROWSxCOLS`, e.g. `28x28`.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct ImageShape(pub (usize, usize));

impl FromStr for ImageShape {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        let parsed = s
            .split_once(['x', 'X'])
            .and_then(|(r, c)| Some((r.trim().parse().ok()?, c.trim().parse().ok()?)));
        match parsed {
            Some((r, c)) if r >= 1 && c >= 1 => Ok(Self((r, c))),
            _ => Err("is not ROWSxCOLS (e.g. 28x28)".into()),
        }
    }
}

/// A clap value parser from a [`FromStr`] whose error is a `String`.
pub fn parse<T: FromStr<Err = String>>(s: &str) -> Result<T, String> {
    s.parse()
}

/// Serde for an optional value written as a string (or, with `numbers`, as a TOML number or
/// an array of numbers too) and parsed by [`FromStr`].
fn from_text<'de, D, T>(d: D) -> Result<Option<T>, D::Error>
where
    D: Deserializer<'de>,
    T: FromStr<Err = String>,
{
    struct Text<T>(std::marker::PhantomData<T>);
    impl<'de, T: FromStr<Err = String>> Visitor<'de> for Text<T> {
        type Value = Option<T>;
        fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
            f.write_str("a string")
        }
        fn visit_str<E: de::Error>(self, s: &str) -> Result<Self::Value, E> {
            s.parse().map(Some).map_err(E::custom)
        }
        fn visit_f64<E: de::Error>(self, v: f64) -> Result<Self::Value, E> {
            self.visit_str(&v.to_string())
        }
        fn visit_i64<E: de::Error>(self, v: i64) -> Result<Self::Value, E> {
            self.visit_str(&v.to_string())
        }
        fn visit_u64<E: de::Error>(self, v: u64) -> Result<Self::Value, E> {
            self.visit_str(&v.to_string())
        }
        fn visit_seq<A: de::SeqAccess<'de>>(self, mut seq: A) -> Result<Self::Value, A::Error> {
            // A TOML array of numbers, `[256, 256]`, as `256,256`.
            let mut items = Vec::new();
            while let Some(v) = seq.next_element::<i64>()? {
                items.push(v.to_string());
            }
            self.visit_str(&items.join(","))
        }
    }
    d.deserialize_any(Text(std::marker::PhantomData))
}

/// `bandwidth = "median"` or `bandwidth = 0.5`.
pub fn de_bandwidth<'de, D: Deserializer<'de>>(d: D) -> Result<Option<BandwidthArg>, D::Error> {
    from_text(d)
}

/// `widths = "256,256"` or `widths = [256, 256]`.
pub fn de_widths<'de, D: Deserializer<'de>>(d: D) -> Result<Option<Widths>, D::Error> {
    from_text(d)
}

/// `image-shape = "28x28"`.
pub fn de_image_shape<'de, D: Deserializer<'de>>(d: D) -> Result<Option<ImageShape>, D::Error> {
    from_text(d)
}

/// A [`clap::ValueEnum`] written as a string in TOML, matched as on the command line (any
/// case, aliases too).
pub fn de_enum<'de, D, T>(d: D) -> Result<Option<T>, D::Error>
where
    D: Deserializer<'de>,
    T: clap::ValueEnum,
{
    let s = String::deserialize(d)?;
    T::from_str(&s, true).map(Some).map_err(|_| {
        let names: Vec<String> = T::value_variants()
            .iter()
            .filter_map(|v| v.to_possible_value())
            .map(|p| p.get_name().to_string())
            .collect();
        de::Error::custom(format!("must be {}, not `{s}`", one_of(&names)))
    })
}

use serde::Deserialize;

/// `a, b or c`.
pub fn one_of(names: &[String]) -> String {
    match names {
        [] => String::new(),
        [one] => one.clone(),
        [rest @ .., last] => format!("{} or {last}", rest.join(", ")),
    }
}
