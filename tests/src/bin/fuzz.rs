//! Fuzzes the decoders of peer and client input (see `cassia_tests::fuzz`).
//!
//! ```text
//! fuzz --target NAME|all [--iterations N] [--seed S] [--first I]
//! fuzz --target NAME --input HEX|@FILE
//! fuzz --list
//! ```
//!
//! `--iterations` defaults to 10,000 per target and `--seed` to 0; `--first` starts at input `I`
//! (to replay one input of a run: `--seed S --first I --iterations 1`); `--input` runs one input
//! given in hex, or read from a file of hex with `@FILE`. One line per target:
//! iterations, inputs decoded, inputs rejected, the largest memory peak of one decode, elapsed
//! time. The exit status is 1 if any input panicked, allocated beyond the bound or broke a
//! property; the failure names its seed, iteration and input.

use std::process::ExitCode;

use cassia_tests::fuzz::{self, Options, Target, World, alloc::CountingAllocator};

#[global_allocator]
static ALLOCATOR: CountingAllocator = CountingAllocator;

struct Arguments {
    targets: Vec<Target>,
    iterations: u64,
    seed: u64,
    first: u64,
    input: Option<Vec<u8>>,
}

fn parse() -> Result<Option<Arguments>, String> {
    let mut arguments = Arguments {
        targets: Vec::new(),
        iterations: 10_000,
        seed: 0,
        first: 0,
        input: None,
    };
    let mut args = std::env::args().skip(1);
    while let Some(arg) = args.next() {
        let mut value = || args.next().ok_or(format!("{arg} needs a value"));
        match arg.as_str() {
            "--list" => {
                for target in Target::ALL {
                    println!("{}", target.name());
                }
                return Ok(None);
            }
            "--target" => {
                let name = value()?;
                arguments.targets = if name == "all" {
                    Target::ALL.to_vec()
                } else {
                    vec![Target::parse(&name).ok_or(format!("unknown target {name:?} (--list)"))?]
                };
            }
            "--iterations" => {
                arguments.iterations = value()?.parse().map_err(|e| format!("--iterations: {e}"))?
            }
            "--seed" => arguments.seed = value()?.parse().map_err(|e| format!("--seed: {e}"))?,
            "--first" => arguments.first = value()?.parse().map_err(|e| format!("--first: {e}"))?,
            "--input" => {
                let text = value()?;
                let hex = match text.strip_prefix('@') {
                    Some(path) => {
                        std::fs::read_to_string(path).map_err(|e| format!("--input {text}: {e}"))?
                    }
                    None => text,
                };
                arguments.input = Some(fuzz::from_hex(&hex).ok_or("--input: not hex")?)
            }
            other => return Err(format!("unknown argument {other:?} (see the file's docs)")),
        }
    }
    if arguments.targets.is_empty() {
        return Err("--target NAME or --target all is required (--list names them)".into());
    }
    Ok(Some(arguments))
}

fn main() -> ExitCode {
    let arguments = match parse() {
        Ok(Some(arguments)) => arguments,
        Ok(None) => return ExitCode::SUCCESS,
        Err(message) => {
            eprintln!("fuzz: {message}");
            return ExitCode::from(2);
        }
    };
    let world = World::new();
    if let Some(input) = &arguments.input {
        let target = arguments.targets[0];
        let (verdict, peak) = fuzz::check_input(&world, target, input);
        let peak = peak.map_or("not measured".into(), |bytes| format!("{bytes} bytes"));
        let bound = fuzz::allocation_bound(input.len());
        println!(
            "{} input of {} bytes: peak decode {peak} (bound {bound})",
            target.name(),
            input.len()
        );
        return match verdict {
            Ok(verdict) => {
                println!("{verdict:?}");
                ExitCode::SUCCESS
            }
            Err(what) => {
                println!("FAILED {what}");
                ExitCode::FAILURE
            }
        };
    }
    println!(
        "seed {}, iterations {} per target from {}",
        arguments.seed, arguments.iterations, arguments.first
    );
    let mut failed = false;
    for target in arguments.targets {
        let options = Options {
            target,
            iterations: arguments.iterations,
            seed: arguments.seed,
            first: arguments.first,
        };
        let report = fuzz::run(&world, &options);
        println!("{report}");
        failed |= report.failure.is_some();
    }
    if failed {
        ExitCode::FAILURE
    } else {
        ExitCode::SUCCESS
    }
}
