//! The baseline for "costs about one parse": read a file and iterate every saphyr-parser
//! event, nothing else. `cargo build --release --example saphyr_pass`; scripts/bench runs
//! `target/release/examples/saphyr_pass FILE` next to `sls-secrets render`.

use saphyr_parser::Parser;

fn main() {
    let path = std::env::args_os().nth(1).expect("usage: saphyr_pass FILE");
    let src = std::fs::read_to_string(&path).expect("read the file");
    let mut events = 0usize;
    let mut parser = Parser::new_from_str(&src);
    while let Some(ev) = parser.next_event() {
        ev.expect("valid YAML");
        events += 1;
    }
    println!("{events} events");
}
