//! Fuzzing the four readers of user input through the public API: the
//! policy, the snapshot, the scenario and the trace. Each case mutates a
//! real file (the bundled and bad-input ones): flipped and inserted bytes,
//! deleted and repeated stretches, deep nesting, huge and strange numbers,
//! control characters. Whatever comes in, a reader must:
//!
//! - not panic;
//! - accept it, or refuse it with an error that is bad input (exit code 2
//!   through [`Error::exit_code`]) and short (under [`MAX_MESSAGE`] bytes);
//! - stay within a time and a memory bound per case (a hang guard and a
//!   guard against allocation that follows the input rather than limits).
//!
//! Memory is counted by a global allocator that adds up, per thread, the
//! bytes each case allocates: a sum of allocations, so an upper bound on
//! what the case ever held.
//!
//! 300 cases per reader run in the normal test run; set PROPTEST_CASES for
//! more.

// The allocation-counting allocator below is the tests' one unsafe code.
#![allow(unsafe_code)]

use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::Cell;
use std::path::Path;
use std::time::{Duration, Instant};

use kinesis_autoscaler::Error;
use kinesis_autoscaler::error::exit;
use kinesis_autoscaler::observe::Observation;
use kinesis_autoscaler::policy::Policy;
use kinesis_autoscaler::sim::scenario::Scenario;
use kinesis_autoscaler::sim::traffic::{Trace, Traffic};
use proptest::prelude::*;
use proptest::test_runner::TestCaseError;

use crate::support::root;

/// The longest message a refused input may produce.
const MAX_MESSAGE: usize = 2000;
/// The most one case may allocate, in total.
const MAX_ALLOCATED: u64 = 256 * 1024 * 1024;
/// The longest one case may take in a debug build: only a hang or a
/// quadratic blow-up comes near it.
const MAX_TIME: Duration = Duration::from_secs(5);

thread_local! {
    static ALLOCATED: Cell<u64> = const { Cell::new(0) };
}

/// The system allocator, counting what each thread allocates.
struct Counting;

fn count(bytes: usize) {
    let _ = ALLOCATED.try_with(|a| a.set(a.get().saturating_add(bytes as u64)));
}

// SAFETY: every call is passed on to the system allocator unchanged; the
// counter is a const-initialized thread-local Cell, which never allocates.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        count(layout.size());
        // SAFETY: the caller's contract is the system allocator's.
        unsafe { System.alloc(layout) }
    }

    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        count(layout.size());
        // SAFETY: as above.
        unsafe { System.alloc_zeroed(layout) }
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        // SAFETY: as above.
        unsafe { System.dealloc(ptr, layout) }
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        count(new_size.saturating_sub(layout.size()));
        // SAFETY: as above.
        unsafe { System.realloc(ptr, layout, new_size) }
    }
}

#[global_allocator]
static GLOBAL: Counting = Counting;

/// Runs `read` on `text` and checks the contract above.
fn check<T, E>(
    name: &str,
    text: &str,
    read: impl FnOnce(&str) -> Result<T, E>,
) -> Result<(), TestCaseError>
where
    Error: From<E>,
{
    ALLOCATED.with(|a| a.set(0));
    let started = Instant::now();
    let result = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| read(text)));
    let took = started.elapsed();
    let allocated = ALLOCATED.with(Cell::get);
    let shown: String = text.chars().take(300).collect();
    let result = match result {
        Ok(r) => r,
        Err(_) => return Err(TestCaseError::fail(format!("{name} panicked on {shown:?}"))),
    };
    prop_assert!(took < MAX_TIME, "{name} took {took:?} on {shown:?}");
    prop_assert!(
        allocated < MAX_ALLOCATED,
        "{name} allocated {allocated} bytes for {} bytes of input",
        text.len()
    );
    if let Err(e) = result {
        let e = Error::from(e);
        let message = format!("{e:#}");
        prop_assert_eq!(
            e.exit_code(),
            exit::BAD_INPUT,
            "{} refused {:?} with {}",
            name,
            shown,
            message
        );
        prop_assert!(
            message.len() < MAX_MESSAGE,
            "{name}: a {}-byte message: {}",
            message.len(),
            message.chars().take(300).collect::<String>()
        );
    }
    Ok(())
}

/// The files whose mutations are tried, by reader.
fn seeds(folder_files: &[(&str, &str)]) -> Vec<String> {
    let mut out = Vec::new();
    for (folder, suffix) in folder_files {
        let dir = root().join(folder);
        let mut paths: Vec<_> = std::fs::read_dir(&dir)
            .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
            .filter_map(|e| e.ok().map(|e| e.path()))
            .filter(|p| p.to_string_lossy().ends_with(suffix))
            .collect();
        paths.sort();
        for p in paths {
            out.push(std::fs::read_to_string(&p).unwrap_or_default());
        }
    }
    assert!(!out.is_empty(), "no seed files in {folder_files:?}");
    out
}

/// Fragments worth splicing into any input.
const INTERESTING: &[&str] = &[
    "{",
    "}",
    "[",
    "]",
    "{a: ",
    "[[[[",
    "\"",
    "'",
    ":",
    ": ",
    "- ",
    "\n",
    "\n  ",
    "#",
    ",",
    "&a",
    "*a",
    "!!binary",
    "~",
    "null",
    "0",
    "-1",
    "1e308",
    "-1e308",
    "NaN",
    ".inf",
    "4294967295",
    "18446744073709551616",
    "340282366920938463463374607431768211456",
    "99999999999y",
    "0s",
    "1m..5m",
    "5m..1m",
    "\u{0}",
    "\u{1b}[31m",
    "\u{feff}",
    "\t",
    "\r\n",
    "é",
    "🦀",
    "1970-01-01 00:00:00,1",
    "9999-12-31 00:00:00,1e308",
];

/// One edit of the input.
#[derive(Clone, Debug)]
enum Edit {
    /// Replace the byte at a position (as a char boundary allows).
    Flip(prop::sample::Index, u8),
    /// Insert a fragment at a position.
    Insert(prop::sample::Index, prop::sample::Index),
    /// Delete up to this many bytes from a position.
    Delete(prop::sample::Index, usize),
    /// Repeat a stretch of up to 64 bytes this many times.
    Repeat(prop::sample::Index, usize, usize),
    /// Cut the input short.
    Truncate(prop::sample::Index),
    /// Open this many nested mappings or lists at a position.
    Nest(prop::sample::Index, bool, usize),
}

fn edit() -> impl Strategy<Value = Edit> {
    prop_oneof![
        3 => (any::<prop::sample::Index>(), any::<u8>()).prop_map(|(i, b)| Edit::Flip(i, b)),
        4 => (any::<prop::sample::Index>(), any::<prop::sample::Index>()).prop_map(|(i, f)| Edit::Insert(i, f)),
        2 => (any::<prop::sample::Index>(), 1usize..200).prop_map(|(i, n)| Edit::Delete(i, n)),
        2 => (any::<prop::sample::Index>(), 1usize..64, 2usize..2000).prop_map(|(i, n, k)| Edit::Repeat(i, n, k)),
        1 => any::<prop::sample::Index>().prop_map(Edit::Truncate),
        1 => (any::<prop::sample::Index>(), any::<bool>(), 1usize..100_000).prop_map(|(i, m, n)| Edit::Nest(i, m, n)),
    ]
}

/// The byte offset nearest `at` (of `len`) that is a char boundary.
fn boundary(text: &str, at: prop::sample::Index) -> usize {
    let mut i = at.index(text.len() + 1);
    while !text.is_char_boundary(i) {
        i -= 1;
    }
    i
}

fn apply(seed: &str, edits: &[Edit]) -> String {
    let mut text = seed.to_owned();
    for e in edits {
        match e {
            Edit::Flip(at, byte) => {
                let i = boundary(&text, *at);
                if i < text.len() {
                    let next = text[i..].chars().next().map_or(1, char::len_utf8);
                    text.replace_range(i..i + next, &char::from(*byte).to_string());
                }
            }
            Edit::Insert(at, which) => {
                let i = boundary(&text, *at);
                text.insert_str(i, INTERESTING[which.index(INTERESTING.len())]);
            }
            Edit::Delete(at, n) => {
                let i = boundary(&text, *at);
                let mut j = (i + n).min(text.len());
                while !text.is_char_boundary(j) {
                    j -= 1;
                }
                text.replace_range(i..j, "");
            }
            Edit::Repeat(at, n, times) => {
                let i = boundary(&text, *at);
                let mut j = (i + n).min(text.len());
                while !text.is_char_boundary(j) {
                    j -= 1;
                }
                let stretch = text[i..j].repeat(*times);
                text.insert_str(j, &stretch);
            }
            Edit::Truncate(at) => {
                let i = boundary(&text, *at);
                text.truncate(i);
            }
            Edit::Nest(at, mapping, depth) => {
                let i = boundary(&text, *at);
                text.insert_str(i, &(if *mapping { "{a: " } else { "[" }).repeat(*depth));
            }
        }
    }
    text
}

/// A mutated input: one of `seeds`, with 1 to 8 edits.
fn mutated(seeds: Vec<String>) -> impl Strategy<Value = String> {
    (
        prop::sample::select(seeds),
        prop::collection::vec(edit(), 1..=8),
    )
        .prop_map(|(seed, edits)| apply(&seed, &edits))
}

fn config() -> ProptestConfig {
    ProptestConfig {
        failure_persistence: None,
        ..ProptestConfig::with_cases(
            std::env::var("PROPTEST_CASES")
                .ok()
                .and_then(|n| n.parse().ok())
                .unwrap_or(300),
        )
    }
}

/// The first 300 rows of the bundled taxi trace, and the bad-input trace.
fn trace_seeds() -> Vec<String> {
    let taxi = std::fs::read_to_string(root().join("traces/nyc_taxi.csv")).unwrap();
    let head: String = taxi.lines().take(300).map(|l| format!("{l}\n")).collect();
    let mut seeds = vec![head];
    seeds.extend(seeds_of("tests/bad_input", ".csv"));
    seeds
}

fn seeds_of(folder: &str, suffix: &str) -> Vec<String> {
    seeds(&[(folder, suffix)])
}

proptest! {
    #![proptest_config(config())]

    #[test]
    fn the_policy_reader_holds(text in mutated(seeds(&[("policies", ".yaml"), ("tests/bad_input", ".yaml")]))) {
        check("Policy::parse", &text, |t| Policy::parse(t, Path::new("fuzz.yaml")))?;
    }

    #[test]
    fn the_snapshot_reader_holds(text in mutated(seeds(&[("examples", ".json"), ("tests/bad_input", ".json")]))) {
        check("Observation::parse", &text, |t| Observation::parse(t, Path::new("fuzz.json")))?;
    }

    #[test]
    fn the_scenario_reader_holds(text in mutated(seeds(&[("scenarios", ".yaml"), ("tests/bad_input", ".yaml")]))) {
        let trace = Trace::parse("2020-01-01 00:00:00,1\n2020-01-02 00:00:00,2\n", Path::new("t.csv")).unwrap();
        check("Scenario::parse", &text, |t| {
            // A scenario that parses must also build its traffic, or say why.
            let scenario = Scenario::parse(t, Path::new("fuzz.yaml"))?;
            Traffic::new(&scenario, &trace).map_err(|m| {
                kinesis_autoscaler::sim::scenario::FileError::invalid(
                    Path::new("fuzz.yaml"),
                    kinesis_autoscaler::input::FileKind::Scenario,
                    m,
                )
            })
        })?;
    }

    #[test]
    fn the_trace_reader_holds(text in mutated(trace_seeds())) {
        let scenario = Scenario::parse(
            "trace: t.csv\npeak: 1MiB/s\nrecord_size: 1KiB\ninitial_shards: 1\n",
            Path::new("s.yaml"),
        )
        .unwrap();
        check("Trace::parse", &text, |t| {
            let trace = Trace::parse(t, Path::new("fuzz.csv"))?;
            Traffic::new(&scenario, &trace).map_err(|m| {
                kinesis_autoscaler::input::FileError::invalid(
                    Path::new("fuzz.csv"),
                    kinesis_autoscaler::input::FileKind::Trace,
                    m,
                )
            })
        })?;
    }
}

/// The mutations reach deep nesting and the limits they guard: a fuzz that
/// never produced them would pass for want of cases.
#[test]
fn the_mutations_reach_the_limits() {
    use proptest::strategy::ValueTree;
    use proptest::test_runner::TestRunner;
    let mut runner = TestRunner::deterministic();
    let strategy = mutated(seeds(&[("policies", ".yaml")]));
    let (mut nested, mut long, mut refused, mut accepted) = (0, 0, 0, 0);
    for _ in 0..500 {
        let text = strategy.new_tree(&mut runner).unwrap().current();
        if text.len() > 20_000 {
            long += 1;
        }
        match Policy::parse(&text, Path::new("p.yaml")) {
            Ok(_) => accepted += 1,
            Err(e) => {
                refused += 1;
                if e.to_string().contains("nested deeper than") {
                    nested += 1;
                }
            }
        }
    }
    assert!(
        nested >= 3 && long >= 10 && refused >= 100 && accepted >= 10,
        "nested {nested}, long {long}, refused {refused}, accepted {accepted} of 500"
    );
}
