//! Writes seed corpora for the fuzz targets into `corpus/<target>/` (docs/fuzzing.md):
//! valid sops files encrypted with the fuzz key, and serverless.yml shapes from the repo's
//! render fixtures and demo.

use std::fs;
use std::path::Path;

use sls_secrets::sops::{DataKey, Metadata, PlainFile};
use sls_secrets::yaml::{MapItem, SeqItem, Text, Value};

fn put(dir: &Path, name: &str, text: &str) {
    fs::create_dir_all(dir).expect("corpus folder");
    fs::write(dir.join(name), text).expect("seed file");
}

fn sops_seed(items: Vec<MapItem>, mac_only_encrypted: bool) -> String {
    let key = DataKey::from_bytes(&[7; 32]).expect("32 bytes");
    let mut meta = Metadata::new(Vec::new(), Vec::new());
    meta.mac_only_encrypted = mac_only_encrypted;
    let mut f = PlainFile::new(key, meta);
    *f.top_mut() = items;
    f.encrypt("2025-01-01T00:00:00Z").expect("encrypts")
}

fn s(v: &str) -> Value {
    Value::Str(Text::new(v.to_owned()))
}

fn main() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let sops = root.join("corpus/sops_reader");
    put(
        &sops,
        "flat.yml",
        &sops_seed(
            vec![
                MapItem::Entry("DB_PASSWORD".into(), s("hunter2")),
                MapItem::Comment(Text::new(" a comment".into())),
                MapItem::Entry("EMPTY".into(), s("")),
                MapItem::Entry("N".into(), Value::Int(42)),
                MapItem::Entry("F".into(), Value::Float(1.5)),
                MapItem::Entry("B".into(), Value::Bool(true)),
                MapItem::Entry("K_unencrypted".into(), s("clear")),
            ],
            false,
        ),
    );
    put(
        &sops,
        "nested.yml",
        &sops_seed(
            vec![
                MapItem::Entry(
                    "map".into(),
                    Value::Map(vec![MapItem::Entry("inner".into(), s("x\ny"))]),
                ),
                MapItem::Entry(
                    "list".into(),
                    Value::Seq(vec![SeqItem::Value(s("a")), SeqItem::Value(Value::Null)]),
                ),
            ],
            true,
        ),
    );
    let render = root.join("corpus/render");
    let mut n = 0;
    let mut add = |text: &str| {
        put(&render, &format!("seed{n:03}.yml"), text);
        n += 1;
    };
    add(&fs::read_to_string(root.join("../examples/demo/serverless.yml")).expect("demo"));
    for entry in fs::read_dir(root.join("../tests/fixtures/render")).expect("fixtures") {
        let dir = entry.expect("entry").path();
        for name in ["serverless.yml", "input.yml", "serverless.yaml"] {
            if let Ok(t) = fs::read_to_string(dir.join(name)) {
                add(&t);
            }
        }
    }
    eprintln!("{n} render seeds");
}
