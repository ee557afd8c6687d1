//! The at-a-glance summary `balgan report` and `balgan demo` lead with: did
//! each class come out as itself? Per class, the accuracy on generated images
//! (a classifier trained on real, balanced data labels each generated image)
//! and the class they were most often taken for, then the FID and KID of the generated images against the class's test
//! images; and the minority classes' mean and worst accuracy.

use super::eval::EvalResults;

/// The minority classes' accuracy on generated images: the mean, and the
/// worst class with its accuracy. The minority is every class but the one
/// with the most training images. `None` without the measure.
#[derive(Debug, Clone, PartialEq)]
pub struct MinorityAccuracy {
    /// Mean accuracy on generated images over the minority classes that have one.
    pub mean: f64,
    /// Name of the minority class with the lowest accuracy.
    pub worst_class: String,
    /// That class's accuracy on generated images.
    pub worst: f64,
    /// Number of minority classes the mean is over.
    pub classes: usize,
}

/// The index of the majority class ([`crate::cli::eval::majority_class`]).
fn majority(r: &EvalResults) -> Option<usize> {
    let counts: Vec<usize> = r.classes.iter().map(|c| c.train_images).collect();
    crate::cli::eval::majority_class(&counts)
}

/// See [`MinorityAccuracy`].
pub fn minority_accuracy(r: &EvalResults) -> Option<MinorityAccuracy> {
    let a = r.accuracy_on_generated.as_ref()?;
    let major = majority(r)?;
    let rows: Vec<(&str, f64)> = a
        .classes
        .iter()
        .enumerate()
        .filter(|(c, _)| *c != major)
        .filter_map(|(_, c)| c.generated.map(|g| (c.name.as_str(), g)))
        .collect();
    if rows.is_empty() {
        return None;
    }
    let mean = rows.iter().map(|r| r.1).sum::<f64>() / rows.len() as f64;
    let (worst_class, worst) = rows
        .iter()
        .copied()
        .min_by(|a, b| a.1.total_cmp(&b.1))
        .expect("rows is not empty");
    Some(MinorityAccuracy {
        mean,
        worst_class: worst_class.to_string(),
        worst,
        classes: rows.len(),
    })
}

/// A share in whole percent, except that a share strictly between 0 and 1 %
/// (or 99 and 100 %) reads "< 1 %" (or "> 99 %"), never "0 %" or "100 %".
fn percent(v: Option<f64>) -> String {
    match v {
        None => "–".into(),
        Some(v) if v > 0.0 && v < 0.01 => "< 1 %".into(),
        Some(v) if v > 0.99 && v < 1.0 => "> 99 %".into(),
        Some(v) => format!("{:.0} %", 100.0 * v),
    }
}

fn number(v: Option<f64>, digits: usize) -> String {
    v.map_or("–".into(), |v| format!("{v:.digits$}"))
}

/// The at-a-glance table in Markdown, with a sentence on how to read it.
pub fn glance_table(r: &EvalResults) -> String {
    let k = r.classes.len();
    let mut s = format!(
        "Does each class come out as itself? A classifier trained on the real, balanced training split labels \
         every generated image: *accuracy on generated* is the share it assigns to the intended class (chance \
         is {:.0} %), beside that classifier's accuracy on the class's real test images (its ceiling). FID and \
         KID compare the generated images with the class's test images in the same classifier's features \
         (lower is closer; comparable only between balgan runs). *Most often taken for* is the other class \
         the generated images were assigned to most, with its share: what a class that did not come out \
         as itself looks like instead.\n\n\
         | class | train images | accuracy on generated ↑ | most often taken for | classifier on real test | FID ↓ \
         | KID ↓ |\n\
         |---|---:|---:|---|---:|---:|---:|\n",
        100.0 / k.max(1) as f64
    );
    let acc = r.accuracy_on_generated.as_ref();
    for (c, e) in r.classes.iter().enumerate() {
        let a = acc.and_then(|a| a.classes.get(c));
        s.push_str(&format!(
            "| {} | {} | {} | {} | {} | {} | {} |\n",
            e.name,
            e.train_images,
            percent(a.and_then(|a| a.generated)),
            a.and_then(|a| a.taken_for.as_ref()).map_or("–".into(), |t| format!(
                "{} {}",
                t.class,
                percent(Some(t.share))
            )),
            percent(a.and_then(|a| a.classifier_test)),
            number(e.fid, 1),
            number(e.kid, 4)
        ));
    }
    if let Some(m) = minority_accuracy(r) {
        s.push_str(&format!(
            "| **minority mean** ({} classes) | | **{}** (worst: {} {}) | | | {} | {} |\n",
            m.classes,
            percent(Some(m.mean)),
            m.worst_class,
            percent(Some(m.worst)),
            number(r.minority_fid, 1),
            number(r.minority_kid, 4)
        ));
    }
    s
}
