//! Performance check on a generated ~1 MB file (2,000 functions, each with its own environment
//! that shadows a secret). Ignored by default; run with
//! `cargo test --release --test render_perf -- --ignored --nocapture`.

use std::time::{Duration, Instant};

use saphyr_parser::Parser;
use sls_secrets::render::{RenderOptions, Secret, render};

fn generate(functions: usize) -> String {
    let mut s = String::from(
        "service: big # ünïcode\nprovider:\n  name: aws\n  environment:\n    DB_PASSWORD: old\n    LOG_LEVEL: info\nfunctions:\n",
    );
    for i in 0..functions {
        s.push_str(&format!(
            "  fn{i}:\n    handler: h.f{i} # größe\n    description: |\n      Function {i} — ✓ multi\n      line\n    environment:\n      DB_PASSWORD: shadow{i}\n      TABLE: !Ref Table{i}\n      FLOW: {{ a: 1, b: \"two\" }}\n    events:\n      - http: GET /f{i}\n"
        ));
    }
    s
}

fn best<F: FnMut()>(mut f: F) -> Duration {
    (0..5)
        .map(|_| {
            let t = Instant::now();
            f();
            t.elapsed()
        })
        .min()
        .unwrap_or_default()
}

#[test]
#[ignore = "timing; run in release"]
fn large_file_costs_about_two_parses() {
    let src = generate(2000);
    let secrets = [
        Secret {
            name: "DB_PASSWORD",
            value: "s3cr3t",
        },
        Secret {
            name: "API_KEY",
            value: "k",
        },
    ];
    let parse = best(|| {
        let mut p = Parser::new_from_str(&src);
        while let Some(Ok(_)) = p.next_event() {}
    });
    let tree_only = best(|| {
        let _ = render(&src, &[], &RenderOptions::default());
    });
    eprintln!("span tree only (no secrets): {tree_only:?}");
    let opts = RenderOptions {
        env_limit: 1 << 20,
        ..RenderOptions::default()
    };
    let render_t = best(|| {
        let r = render(&src, &secrets, &opts).expect("renders");
        assert!(r.changed);
    });
    eprintln!(
        "{} bytes, {} lines: saphyr pass {parse:?}, render {render_t:?} ({:.1}x)",
        src.len(),
        src.lines().count(),
        render_t.as_secs_f64() / parse.as_secs_f64()
    );
    // Linear: doubling the input must not quadruple the time.
    let src2 = generate(4000);
    let render2 = best(|| {
        let _ = render(&src2, &secrets, &opts);
    });
    eprintln!("4000 functions: render {render2:?}");
    assert!(render2 < render_t * 4, "render looks superlinear");
}
