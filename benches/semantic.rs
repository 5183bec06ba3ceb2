//! Latency of embedding one customer message with the sentence model (feature `semantic`), the
//! cost the bot pays per message in `semantic` and `ensemble` modes.
//!
//! `cargo bench --features semantic --bench semantic` needs the model in
//! `models/all-MiniLM-L6-v2` (`python3 scripts/fetch-model.py`). Messages come from BANKING77's
//! validation split beside the crate (long support messages); without it, from a fixed list.
//! It measures the message at the median token length, the one at the 99th percentile and the
//! longest, so the figures line up with `intents eval`'s p50 / p99. Pin it to one core with
//! `RAYON_NUM_THREADS=1 taskset -c 1` for the one-core figures.

use std::hint::black_box;
use std::path::PathBuf;

use criterion::{criterion_group, criterion_main, Criterion};
use frontline::intents::eval::read_labelled_csv;
use frontline::intents::semantic::model::SentenceModel;
use frontline::intents::semantic::TextEmbedder;

fn messages() -> Vec<String> {
    let valid =
        PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../shared/datasets/banking77/valid.csv");
    match read_labelled_csv(&valid) {
        Ok(cases) => cases.into_iter().map(|c| c.text).collect(),
        Err(_) => [
            "where is my card",
            "I ordered a new card two weeks ago and it still has not arrived, what should I do now",
            "can I top up with a card from another country and how long does it take to show up in my account",
        ]
        .iter()
        .map(|s| s.to_string())
        .collect(),
    }
}

fn bench(c: &mut Criterion) {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("models/all-MiniLM-L6-v2");
    let model = match SentenceModel::load(&dir) {
        Ok(m) => m,
        Err(e) => {
            eprintln!("semantic bench skipped: {e} (run `python3 scripts/fetch-model.py`)");
            return;
        }
    };
    let mut by_length: Vec<(usize, String)> = messages()
        .into_iter()
        .map(|m| (model.token_ids(&m).map_or(0, |ids| ids.len()), m))
        .collect();
    by_length.sort();
    let at = |q: f64| &by_length[((by_length.len() - 1) as f64 * q) as usize];
    let lengths = [
        ("p50_length", at(0.5)),
        ("p99_length", at(0.99)),
        ("max_length", at(1.0)),
    ];
    for (name, (tokens, text)) in lengths {
        eprintln!("{name}: {tokens} tokens: {text}");
        c.bench_function(&format!("embed_one/{name}_{tokens}_tokens"), |b| {
            b.iter(|| model.embed_one(black_box(text)).unwrap())
        });
    }
}

criterion_group!(benches, bench);
criterion_main!(benches);
