//! In-process figures (BENCHMARKS.md): render of the typical and large services, the bare
//! saphyr-parser pass over the same large file (the baseline of issue 6), and opening the
//! 2,000-secret sops file. `cargo bench --bench render`.

#[path = "support/inputs.rs"]
mod inputs;

use std::hint::black_box;
use std::str::FromStr;
use std::time::Duration;

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use saphyr_parser::Parser;
use sls_secrets::keys::age::AgeIdentities;
use sls_secrets::render::{RenderOptions, Secret, render};

fn as_secrets(pairs: &[(String, String)]) -> Vec<Secret<'_>> {
    pairs
        .iter()
        .map(|(k, v)| Secret { name: k, value: v })
        .collect()
}

fn saphyr_pass(src: &str) -> usize {
    let mut n = 0;
    let mut p = Parser::new_from_str(src);
    while let Some(ev) = p.next_event() {
        black_box(ev.expect("valid YAML"));
        n += 1;
    }
    n
}

fn bench_render(c: &mut Criterion) {
    let opts = RenderOptions::default();
    let typical = inputs::typical();
    let typical_secrets = inputs::secrets(20, 32);
    let large = inputs::large(2000, 200);
    let large_secrets = inputs::secrets(200, 8);

    let mut g = c.benchmark_group("typical");
    g.throughput(Throughput::Bytes(typical.len() as u64));
    let s = as_secrets(&typical_secrets);
    g.bench_function("render", |b| {
        b.iter(|| render(black_box(&typical), &s, &opts).expect("renders"))
    });
    g.bench_function("saphyr_pass", |b| {
        b.iter(|| saphyr_pass(black_box(&typical)))
    });
    g.finish();

    let mut g = c.benchmark_group("large");
    g.throughput(Throughput::Bytes(large.len() as u64));
    g.sample_size(20).measurement_time(Duration::from_secs(8));
    let s = as_secrets(&large_secrets);
    g.bench_function("render", |b| {
        b.iter(|| render(black_box(&large), &s, &opts).expect("renders"))
    });
    g.bench_function("render_no_secrets", |b| {
        b.iter(|| render(black_box(&large), &[], &opts).expect("parses"))
    });
    g.bench_function("saphyr_pass", |b| b.iter(|| saphyr_pass(black_box(&large))));
    g.finish();

    // Linearity: twice the functions should cost twice the time (same MiB/s as `large`).
    let double = inputs::large(4000, 200);
    let mut g = c.benchmark_group("large_x2");
    g.throughput(Throughput::Bytes(double.len() as u64));
    g.sample_size(10).measurement_time(Duration::from_secs(8));
    g.bench_function("render", |b| {
        b.iter(|| render(black_box(&double), &s, &opts).expect("renders"))
    });
    g.finish();
}

fn bench_decrypt(c: &mut Criterion) {
    let text = inputs::encrypted(&inputs::secrets(2000, 32));
    let ids = AgeIdentities::from_identities(
        vec![age::x25519::Identity::from_str(inputs::AGE_KEY).expect("test key")],
        "bench",
    );
    let mut g = c.benchmark_group("secrets_2000");
    g.throughput(Throughput::Bytes(text.len() as u64));
    g.bench_function("parse", |b| {
        b.iter(|| sls_secrets::sops::parse(black_box(&text)).expect("parses"))
    });
    g.bench_function("open", |b| {
        b.iter(|| {
            let f = sls_secrets::sops::parse(black_box(&text)).expect("parses");
            let key = sls_secrets::keys::unwrap_data_key(&f.meta, &ids).expect("key");
            f.decrypt(key).expect("MAC ok")
        })
    });
    g.bench_function("open_and_print", |b| {
        b.iter(|| {
            let f = sls_secrets::sops::parse(black_box(&text)).expect("parses");
            let key = sls_secrets::keys::unwrap_data_key(&f.meta, &ids).expect("key");
            f.decrypt(key).expect("MAC ok").to_plain_yaml()
        })
    });
    g.finish();
}

criterion_group!(benches, bench_render, bench_decrypt);
criterion_main!(benches);
