//! Speed and memory of the intent matcher on CLINC150 (`../shared/datasets/clinc150` beside the
//! crate; a small synthetic set when it is absent).
//!
//! `cargo bench --bench intents` measures classify latency per message and training time
//! (including threshold calibration), and prints the trained model's size and the process's peak
//! resident memory.

use std::hint::black_box;
use std::path::PathBuf;

use criterion::{criterion_group, criterion_main, Criterion};
use frontline::core::matcher::Matcher;
use frontline::intents::eval::{peak_rss_kb, read_labelled_csv};
use frontline::intents::{import, IntentSet, MatcherSettings, TrainedMatcher};

fn data() -> (IntentSet, Vec<String>, &'static str) {
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../shared/datasets/clinc150");
    let (train, val) = (root.join("train.csv"), root.join("val.csv"));
    if let (Ok(imported), Ok(cases)) = (import::from_csv(&train), read_labelled_csv(&val)) {
        return (
            imported.into_set(&train),
            cases.into_iter().map(|c| c.text).collect(),
            "clinc150",
        );
    }
    // Synthetic fallback: 50 intents of 40 templated examples.
    let mut csv = String::from("text,intent\n");
    let verbs = [
        "where is",
        "how do i change",
        "can you cancel",
        "i need help with",
        "tell me about",
    ];
    for i in 0..50 {
        for j in 0..40 {
            csv.push_str(&format!(
                "{} my thing{i} number {j},intent_{i}\n",
                verbs[j % verbs.len()]
            ));
        }
    }
    let path = std::env::temp_dir().join(format!("frontline-bench-{}.csv", std::process::id()));
    std::fs::write(&path, csv).expect("write synthetic set");
    let imported = import::from_csv(&path).expect("synthetic set");
    let texts = (0..500)
        .map(|i| format!("where is thing{} number {}", i % 50, i))
        .collect();
    (imported.into_set(&path), texts, "synthetic")
}

fn benches(c: &mut Criterion) {
    let (set, texts, name) = data();
    let settings = MatcherSettings::default();
    let matcher = TrainedMatcher::train(&set, &settings);
    let mut i = 0usize;
    c.bench_function(&format!("classify/{name}"), |b| {
        b.iter(|| {
            i = (i + 1) % texts.len();
            black_box(matcher.classify(black_box(&texts[i])))
        })
    });
    let mut group = c.benchmark_group("train");
    group.sample_size(10);
    group.bench_function(format!("{name}/{}_examples", set.example_count()), |b| {
        b.iter(|| black_box(TrainedMatcher::train(black_box(&set), &settings)))
    });
    group.finish();
    let stats = matcher.stats();
    println!(
        "{name}: {} intents, {} examples, {} features, {:.1} MB of weights, peak RSS {:.1} MB",
        stats.intents,
        stats.examples,
        stats.features,
        stats.weight_bytes as f64 / 1e6,
        peak_rss_kb().unwrap_or(0) as f64 / 1024.0
    );
}

criterion_group!(intents, benches);
criterion_main!(intents);
