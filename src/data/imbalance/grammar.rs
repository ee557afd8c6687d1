//! The command-line forms of a [`Recipe`] (the table in the module
//! documentation): parsed by [`FromStr`], written back by [`fmt::Display`].

use std::fmt;
use std::str::FromStr;

use super::tables::PaperDataset;
use super::{Recipe, OP};
use crate::error::{Error, Result};

fn join_classes(classes: &[u32]) -> String {
    classes.iter().map(u32::to_string).collect::<Vec<_>>().join("+")
}

impl fmt::Display for Recipe {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Recipe::Full => write!(f, "none"),
            Recipe::Ir { ratio } => write!(f, "ir:{ratio}"),
            Recipe::Counts(c) => {
                let list: Vec<String> = c.iter().map(usize::to_string).collect();
                write!(f, "counts:{}", list.join(","))
            }
            Recipe::BaganGp(d) => write!(f, "bagan-gp:{d}"),
            Recipe::Step {
                mu,
                rho,
                majority,
                minority,
            } => {
                write!(f, "step:mu={mu},rho={rho}")?;
                if let Some(n) = majority {
                    write!(f, ",n={n}")?;
                }
                if let Some(m) = minority {
                    write!(f, ",minority={}", join_classes(m))?;
                }
                Ok(())
            }
            Recipe::CapRemove { class, remove, cap } => write!(f, "cs-acgan:class={class},remove={remove},cap={cap}"),
            Recipe::Aggan(d) => write!(f, "aggan:{d}"),
            Recipe::AgganPair { positive, negative, ir } => write!(f, "aggan-pair:{positive},{negative},ir={ir}"),
            Recipe::Discard { classes, rate } => write!(f, "discard:class={},rate={rate}", join_classes(classes)),
        }
    }
}

const FORMS: &str = "expected none, ir:R, counts:N0,N1,..., bagan-gp:DATASET, step:mu=M,rho=R[,n=N][,minority=C+C], \
                     cs-acgan:class=C,remove=F[,cap=N], aggan:DATASET, aggan-pair:POS,NEG,ir=R or discard:class=C[+C],rate=F";

fn bad(s: &str, why: impl fmt::Display) -> Error {
    Error::invalid(OP, format!("cannot parse '{s}': {why}; {FORMS}"))
}

fn parse_num<T: FromStr>(s: &str, what: &str, v: &str) -> Result<T> {
    v.trim()
        .parse()
        .map_err(|_| bad(s, format!("{what} '{v}' is not a valid number")))
}

/// A fraction, or a percentage with a trailing `%`.
fn parse_rate(s: &str, what: &str, v: &str) -> Result<f64> {
    match v.trim().strip_suffix('%') {
        Some(p) => Ok(parse_num::<f64>(s, what, p)? / 100.0),
        None => parse_num(s, what, v),
    }
}

fn parse_classes(s: &str, v: &str) -> Result<Vec<u32>> {
    v.split('+').map(|c| parse_num(s, "class", c)).collect()
}

/// Splits `k=v,k=v` into pairs, rejecting unknown and repeated keys.
fn key_values<'a>(s: &str, body: &'a str, allowed: &[&str]) -> Result<Vec<(&'a str, &'a str)>> {
    let mut out: Vec<(&str, &str)> = Vec::new();
    for part in body.split(',') {
        let Some((k, v)) = part.split_once('=') else {
            return Err(bad(s, format!("'{part}' is not key=value")));
        };
        let k = k.trim();
        if !allowed.contains(&k) {
            return Err(bad(s, format!("unknown key '{k}' (allowed: {})", allowed.join(", "))));
        }
        if out.iter().any(|(seen, _)| *seen == k) {
            return Err(bad(s, format!("key '{k}' is given twice")));
        }
        out.push((k, v.trim()));
    }
    Ok(out)
}

fn required<'a>(s: &str, kv: &[(&str, &'a str)], key: &str) -> Result<&'a str> {
    kv.iter()
        .find(|(k, _)| *k == key)
        .map(|(_, v)| *v)
        .ok_or_else(|| bad(s, format!("missing '{key}='")))
}

fn optional<'a>(kv: &[(&str, &'a str)], key: &str) -> Option<&'a str> {
    kv.iter().find(|(k, _)| *k == key).map(|(_, v)| *v)
}

impl FromStr for Recipe {
    type Err = Error;

    /// Parses the command-line forms of the module documentation. Only the
    /// syntax is checked here; the numbers are checked against the data by
    /// [`Recipe::counts`].
    fn from_str(s: &str) -> Result<Recipe> {
        let t = s.trim();
        if t.eq_ignore_ascii_case("none") || t.eq_ignore_ascii_case("full") {
            return Ok(Recipe::Full);
        }
        let Some((kind, body)) = t.split_once(':') else {
            return Err(bad(s, "missing ':'"));
        };
        let body = body.trim();
        match kind.trim().to_ascii_lowercase().as_str() {
            "ir" => Ok(Recipe::Ir {
                ratio: parse_num(s, "IR", body)?,
            }),
            "counts" => Ok(Recipe::Counts(
                body.split(',')
                    .map(|n| parse_num(s, "count", n))
                    .collect::<Result<_>>()?,
            )),
            "bagan-gp" => Ok(Recipe::BaganGp(PaperDataset::parse(body)?)),
            "aggan" => Ok(Recipe::Aggan(PaperDataset::parse(body)?)),
            "step" => {
                let kv = key_values(s, body, &["mu", "rho", "n", "minority"])?;
                Ok(Recipe::Step {
                    mu: parse_num(s, "mu", required(s, &kv, "mu")?)?,
                    rho: parse_num(s, "rho", required(s, &kv, "rho")?)?,
                    majority: optional(&kv, "n").map(|v| parse_num(s, "n", v)).transpose()?,
                    minority: optional(&kv, "minority").map(|v| parse_classes(s, v)).transpose()?,
                })
            }
            "cs-acgan" => {
                let kv = key_values(s, body, &["class", "remove", "cap"])?;
                Ok(Recipe::CapRemove {
                    class: optional(&kv, "class").map_or(Ok(0), |v| parse_num(s, "class", v))?,
                    remove: parse_rate(s, "remove", required(s, &kv, "remove")?)?,
                    cap: optional(&kv, "cap").map_or(Ok(5000), |v| parse_num(s, "cap", v))?,
                })
            }
            "aggan-pair" => {
                let parts: Vec<&str> = body.split(',').collect();
                if parts.len() != 3 {
                    return Err(bad(s, "aggan-pair takes POS,NEG,ir=R"));
                }
                let kv = key_values(s, parts[2], &["ir"])?;
                Ok(Recipe::AgganPair {
                    positive: parse_num(s, "positive class", parts[0])?,
                    negative: parse_num(s, "negative class", parts[1])?,
                    ir: parse_num(s, "ir", required(s, &kv, "ir")?)?,
                })
            }
            "discard" => {
                let kv = key_values(s, body, &["class", "rate"])?;
                Ok(Recipe::Discard {
                    classes: optional(&kv, "class").map_or(Ok(vec![0]), |v| parse_classes(s, v))?,
                    rate: parse_rate(s, "rate", required(s, &kv, "rate")?)?,
                })
            }
            other => Err(bad(s, format!("unknown recipe '{other}'"))),
        }
    }
}
