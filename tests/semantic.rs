//! Semantic matching (`[matcher] mode = "semantic" | "ensemble"`, cargo feature `semantic`):
//! embeddings against reference values from an independent implementation, paraphrases with no
//! shared words, the embedding cache on reload, and named errors for broken model folders.
//!
//! Tests that need the model look for it in `models/all-MiniLM-L6-v2` (or `FRONTLINE_MODEL_DIR`)
//! and are skipped with a message when it is absent, unless `FRONTLINE_REQUIRE_MODEL=1` (CI).

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};

#[cfg(feature = "semantic")]
#[path = "common/paraphrases.rs"]
mod paraphrases;

use frontline::intents::semantic::Mode;
use frontline::intents::{load_dir, MatcherSettings, TrainedMatcher};

const HOW_TO_ENABLE: &str = "python3 scripts/fetch-model.py && cargo test --features semantic";

#[cfg_attr(not(feature = "semantic"), allow(dead_code))]
fn temp_dir(name: &str) -> PathBuf {
    static N: AtomicUsize = AtomicUsize::new(0);
    let dir = std::env::temp_dir().join(format!(
        "frontline-semantic-{}-{}-{}",
        std::process::id(),
        name,
        N.fetch_add(1, Ordering::Relaxed)
    ));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

fn support_set() -> frontline::intents::IntentSet {
    load_dir(
        Path::new("tests/fixtures/semantic/intents"),
        &Default::default(),
    )
    .unwrap()
}

#[cfg(not(feature = "semantic"))]
mod without_the_feature {
    use super::*;

    #[test]
    fn semantic_tests_are_skipped_with_how_to_enable_them() {
        eprintln!(
            "semantic tests skipped: this build lacks the `semantic` feature; run `{HOW_TO_ENABLE}`"
        );
    }

    #[test]
    fn semantic_and_ensemble_modes_are_start_up_errors_naming_the_feature() {
        let set = support_set();
        for mode in ["semantic", "ensemble"] {
            let settings: MatcherSettings = toml::from_str(&format!("mode = \"{mode}\"")).unwrap();
            let err = TrainedMatcher::build(&set, &settings).unwrap_err();
            let msg = err.to_string();
            assert!(msg.contains("feature `semantic`"), "{msg}");
            assert!(msg.contains(mode), "{msg}");
        }
        // Lexical mode needs nothing more.
        let settings: MatcherSettings = toml::from_str("mode = \"lexical\"").unwrap();
        assert_eq!(settings.mode, Mode::Lexical);
        assert!(TrainedMatcher::build(&set, &settings).is_ok());
    }
}

#[cfg(feature = "semantic")]
mod with_the_feature {
    use super::*;
    use std::sync::{Arc, OnceLock};

    use frontline::core::matcher::{Matcher, Verdict};
    use frontline::intents::eval::{evaluate, Case};
    use frontline::intents::semantic::model::SentenceModel;
    use frontline::intents::semantic::{CachedEmbedder, SemanticError, TextEmbedder};

    /// The model folder, or `None` (after saying how to get it) when it is not there.
    fn model_dir() -> Option<PathBuf> {
        let dir = std::env::var_os("FRONTLINE_MODEL_DIR")
            .map(PathBuf::from)
            .unwrap_or_else(|| {
                Path::new(env!("CARGO_MANIFEST_DIR")).join("models/all-MiniLM-L6-v2")
            });
        if dir.join("model.safetensors").is_file() {
            return Some(dir);
        }
        if std::env::var_os("FRONTLINE_REQUIRE_MODEL").is_some() {
            panic!(
                "FRONTLINE_REQUIRE_MODEL is set but {} holds no model",
                dir.display()
            );
        }
        eprintln!(
            "semantic test skipped: no model in {}; run `{HOW_TO_ENABLE}`",
            dir.display()
        );
        None
    }

    fn model() -> Option<Arc<SentenceModel>> {
        static MODEL: OnceLock<Arc<SentenceModel>> = OnceLock::new();
        let dir = model_dir()?;
        Some(
            MODEL
                .get_or_init(|| Arc::new(SentenceModel::load(&dir).expect("model loads")))
                .clone(),
        )
    }

    #[derive(serde::Deserialize)]
    struct Reference {
        sentences: Vec<RefSentence>,
    }
    #[derive(serde::Deserialize)]
    struct RefSentence {
        text: String,
        ids: Vec<u32>,
        embedding: Vec<f32>,
    }

    fn max_diff(a: &[f32], b: &[f32]) -> f32 {
        assert_eq!(a.len(), b.len());
        a.iter()
            .zip(b)
            .map(|(x, y)| (x - y).abs())
            .fold(0.0, f32::max)
    }

    #[test]
    fn embeddings_match_an_independent_numpy_forward_pass() {
        let Some(m) = model() else { return };
        let reference: Reference = serde_json::from_str(
            &std::fs::read_to_string("tests/fixtures/semantic/reference.json").unwrap(),
        )
        .unwrap();
        assert_eq!(m.dim(), 384);
        let texts: Vec<&str> = reference
            .sentences
            .iter()
            .map(|s| s.text.as_str())
            .collect();
        // One at a time (no padding) and as one padded batch: both must give the same vectors.
        let batch = m.embed(&texts).unwrap();
        for (s, from_batch) in reference.sentences.iter().zip(&batch) {
            assert_eq!(
                m.token_ids(&s.text).unwrap(),
                s.ids,
                "tokens of {:?}",
                s.text
            );
            let one = m.embed_one(&s.text).unwrap();
            let norm: f32 = one.iter().map(|x| x * x).sum::<f32>().sqrt();
            assert!((norm - 1.0).abs() < 1e-4, "unit length, got {norm}");
            let d = max_diff(&one, &s.embedding);
            assert!(d < 1e-4, "{:?}: differs from the reference by {d}", s.text);
            let d = max_diff(from_batch, &s.embedding);
            assert!(d < 1e-4, "{:?} in a padded batch differs by {d}", s.text);
        }
    }

    use super::paraphrases::PARAPHRASES;

    fn words(text: &str) -> Vec<String> {
        text.to_lowercase()
            .split(|c: char| !c.is_alphanumeric() && c != '\'')
            .filter(|w| !w.is_empty())
            .map(String::from)
            .collect()
    }

    #[test]
    fn the_paraphrases_really_share_no_words_with_the_examples() {
        let set = support_set();
        // Words too common to carry meaning.
        let stop = [
            "i", "me", "my", "the", "you", "to", "a", "for", "on", "can", "when", "i'd",
        ];
        let vocab: std::collections::BTreeSet<String> = set
            .intents
            .iter()
            .flat_map(|i| i.examples.iter().flat_map(|e| words(&e.value)))
            .collect();
        for (text, _) in PARAPHRASES {
            for w in words(text) {
                assert!(
                    stop.contains(&w.as_str()) || !vocab.contains(&w),
                    "{text:?} shares {w:?} with the examples"
                );
            }
        }
    }

    fn trained(mode: Mode, cache: &Path) -> Option<TrainedMatcher> {
        let m = model()?;
        let settings = MatcherSettings {
            mode,
            cache_dir: cache.to_path_buf(),
            ..Default::default()
        };
        let embedder = Arc::new(CachedEmbedder::new(m, cache.to_path_buf()));
        Some(TrainedMatcher::train_with(&support_set(), &settings, Some(embedder)).unwrap())
    }

    #[test]
    fn paraphrases_are_answered_in_semantic_mode_and_not_by_n_grams() {
        let cache = temp_dir("paraphrase");
        let Some(semantic) = trained(Mode::Semantic, &cache) else {
            return;
        };
        // N-grams alone (without the built-in word vectors, which see some paraphrases).
        let ngrams = MatcherSettings {
            word_vector_weight: 0.0,
            ..MatcherSettings::default()
        };
        let lexical = TrainedMatcher::train(&support_set(), &ngrams);
        assert_eq!(semantic.stats().mode, Mode::Semantic);
        assert_eq!(lexical.stats().mode, Mode::Lexical);
        for (text, intent) in PARAPHRASES {
            let want = Verdict::Answer {
                intent: intent.to_string(),
            };
            let s = semantic.classify(text);
            assert_eq!(s.verdict, want, "semantic, {text:?}: {:?}", s.candidates);
            let l = lexical.classify(text);
            assert_ne!(l.verdict, want, "lexical, {text:?}: {:?}", l.candidates);
        }
        // Off-topic questions are still not answered. (On this 48-example set the semantic
        // model's probabilities are flat for them, and the matcher's "two intents clear the
        // threshold only together" rule may ask "A or B?" instead of saying it doesn't know.)
        for text in ["how do volcanoes form", "write me a poem about the sea"] {
            let c = semantic.classify(text);
            assert!(
                !matches!(c.verdict, Verdict::Answer { .. }),
                "{text:?}: {:?} {:?}",
                c.verdict,
                c.candidates
            );
        }
    }

    #[test]
    fn ensemble_mode_answers_both_known_questions_and_paraphrases() {
        let cache = temp_dir("ensemble");
        let Some(m) = trained(Mode::Ensemble, &cache) else {
            return;
        };
        assert_eq!(m.stats().mode, Mode::Ensemble);
        // The lexical part without word stems and word vectors, which ensemble mode leaves out.
        assert_eq!(m.stats().features, {
            let settings = MatcherSettings {
                word_stems: false,
                word_vector_weight: 0.0,
                ..MatcherSettings::default()
            };
            let lexical = TrainedMatcher::train(&support_set(), &settings);
            lexical.stats().features + 384
        });
        for (text, intent) in [
            ("i forgot my password", "forgot_password"),
            ("we relocated to another city last month", "change_address"),
        ] {
            let c = m.classify(text);
            assert_eq!(
                c.verdict,
                Verdict::Answer {
                    intent: intent.into()
                },
                "{text:?}: {:?}",
                c.candidates
            );
        }
    }

    #[test]
    fn eval_embeds_cases_in_batches_and_decides_as_one_message_at_a_time() {
        let cache = temp_dir("batch");
        let Some(m) = model() else { return };
        let settings = MatcherSettings {
            mode: Mode::Ensemble,
            cache_dir: cache.clone(),
            ..Default::default()
        };
        let embedder = Arc::new(CachedEmbedder::new(m, cache.clone()));
        let matcher =
            TrainedMatcher::train_with(&support_set(), &settings, Some(embedder.clone())).unwrap();
        let cases: Vec<Case> = PARAPHRASES
            .iter()
            .map(|(text, intent)| (*text, *intent))
            .chain([
                ("i forgot my password", "forgot_password"),
                ("how do volcanoes form", "out_of_scope"),
                ("?!", "out_of_scope"),
            ])
            .enumerate()
            .map(|(i, (text, intent))| Case {
                text: text.into(),
                intent: intent.into(),
                line: i + 2,
            })
            .collect();
        let misses = embedder.misses();
        let (_, outcomes) = evaluate(&matcher, &cases, &|_| {});
        // Test cases are not examples: they never go into the example cache.
        assert_eq!(embedder.misses(), misses);
        for (case, outcome) in cases.iter().zip(&outcomes) {
            let one = matcher.classify(&case.text);
            let answered = match &one.verdict {
                Verdict::Answer { intent } => Some(intent.clone()),
                _ => None,
            };
            assert_eq!(outcome.answered, answered, "{:?}", case.text);
            assert_eq!(
                outcome.top_intent.as_deref(),
                one.candidates.first().map(|c| c.intent.as_str()),
                "{:?}",
                case.text
            );
            if let Some(c) = one.candidates.first() {
                assert!(
                    (outcome.top_score - c.score).abs() < 1e-3,
                    "{:?}",
                    case.text
                );
            }
        }
    }

    #[test]
    fn a_restart_or_reload_reads_unchanged_examples_from_the_cache() {
        let Some(m) = model() else { return };
        let cache = temp_dir("cache");
        let settings = MatcherSettings {
            mode: Mode::Semantic,
            ..Default::default()
        };
        let set = support_set();
        let first = Arc::new(CachedEmbedder::new(m.clone(), cache.clone()));
        let a = TrainedMatcher::train_with(&set, &settings, Some(first.clone())).unwrap();
        assert!(first.misses() >= set.example_count(), "{}", first.misses());
        assert!(first.path().is_file());
        // A new process: a fresh cache object over the same folder embeds nothing again.
        let second = Arc::new(CachedEmbedder::new(m.clone(), cache.clone()));
        let b = TrainedMatcher::train_with(&set, &settings, Some(second.clone())).unwrap();
        assert_eq!(second.misses(), 0);
        assert_eq!(second.hits(), first.misses() + first.hits());
        assert_eq!(a.stats().threshold, b.stats().threshold);
        // One example edited: only that one is embedded.
        let mut edited = set.clone();
        edited.intents[0].examples[0].value = "my replacement card is lost in the post".into();
        let third = Arc::new(CachedEmbedder::new(m, cache.clone()));
        TrainedMatcher::train_with(&edited, &settings, Some(third.clone())).unwrap();
        assert_eq!(third.misses(), 1);
        let _ = std::fs::remove_dir_all(&cache);
    }

    fn load_err(dir: &Path) -> SemanticError {
        match SentenceModel::load(dir) {
            Ok(_) => panic!("{} loaded", dir.display()),
            Err(e) => e,
        }
    }

    #[test]
    fn a_missing_model_file_is_named() {
        let dir = temp_dir("missing");
        let config = std::fs::read("tests/fixtures/semantic/bert-config.json").unwrap();
        let mut expected = Vec::new();
        for (file, content) in [
            ("config.json", &config[..]),
            ("tokenizer.json", b"{}"),
            ("model.safetensors", b""),
        ] {
            let e = load_err(&dir);
            assert!(
                matches!(&e, SemanticError::MissingFile { file: f, .. } if f == file),
                "{e}"
            );
            assert!(e.to_string().contains(file), "{e}");
            expected.push(file);
            std::fs::write(dir.join(file), content).unwrap();
        }
        // Through the settings: the start-up error names the file too.
        std::fs::remove_file(dir.join("model.safetensors")).unwrap();
        let settings = MatcherSettings {
            mode: Mode::Ensemble,
            model_dir: dir.clone(),
            ..Default::default()
        };
        let err = TrainedMatcher::build(&support_set(), &settings).unwrap_err();
        assert!(
            err.to_string().contains("model.safetensors is missing"),
            "{err}"
        );
        let _ = std::fs::remove_dir_all(&dir);
    }

    #[test]
    fn a_corrupt_model_file_is_named() {
        let dir = temp_dir("corrupt");
        std::fs::copy(
            "tests/fixtures/semantic/bert-config.json",
            dir.join("config.json"),
        )
        .unwrap();
        std::fs::write(dir.join("tokenizer.json"), "{}").unwrap();
        std::fs::write(
            dir.join("model.safetensors"),
            b"\x10\x00\x00\x00\x00\x00\x00\x00not json",
        )
        .unwrap();
        let e = load_err(&dir);
        assert!(
            matches!(&e, SemanticError::CorruptFile { path, .. } if path.ends_with("model.safetensors")),
            "{e}"
        );
        // A config that is not JSON is named as well.
        std::fs::write(dir.join("config.json"), "hidden_size = 384").unwrap();
        let e = load_err(&dir);
        assert!(
            matches!(&e, SemanticError::CorruptFile { path, .. } if path.ends_with("config.json")),
            "{e}"
        );
        let _ = std::fs::remove_dir_all(&dir);
    }

    #[test]
    fn a_model_asking_for_other_pooling_is_refused() {
        let dir = temp_dir("pooling");
        std::fs::copy(
            "tests/fixtures/semantic/bert-config.json",
            dir.join("config.json"),
        )
        .unwrap();
        std::fs::write(dir.join("tokenizer.json"), "{}").unwrap();
        std::fs::write(dir.join("model.safetensors"), b"").unwrap();
        std::fs::write(
            dir.join("modules.json"),
            r#"[{"idx":0,"name":"0","path":"","type":"sentence_transformers.models.Transformer"},
                {"idx":1,"name":"1","path":"1_Pooling","type":"sentence_transformers.models.Pooling"}]"#,
        )
        .unwrap();
        std::fs::create_dir_all(dir.join("1_Pooling")).unwrap();
        std::fs::write(
            dir.join("1_Pooling/config.json"),
            r#"{"word_embedding_dimension":384,"pooling_mode_cls_token":true,"pooling_mode_mean_tokens":false}"#,
        )
        .unwrap();
        let e = load_err(&dir);
        assert!(matches!(e, SemanticError::UnsupportedPooling { .. }), "{e}");
        assert!(e.to_string().contains("cls_token"), "{e}");
        assert!(e.to_string().contains("mean pooling"), "{e}");
        let _ = std::fs::remove_dir_all(&dir);
    }
}
