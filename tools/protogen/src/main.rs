//! Regenerates `api/src/generated/cassia.v1.rs` from `api/proto/`, or with `--check` fails if
//! the checked-in code is stale. Kept outside the workspace so its build-time crates never
//! change the features of RocksDB's build dependencies (which would rebuild RocksDB).
//!
//! ```sh
//! cargo run --manifest-path tools/protogen/Cargo.toml            # regenerate
//! cargo run --manifest-path tools/protogen/Cargo.toml -- --check # verify
//! ```

use std::path::Path;

fn main() {
    let check = std::env::args().any(|a| a == "--check");
    let api = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../api");
    let descriptors = protox::compile(["cassia/v1/cassia.proto"], [api.join("proto")])
        .expect("the .proto compiles");
    let out = std::env::temp_dir().join(format!("cassia-protogen-{}", std::process::id()));
    std::fs::create_dir_all(&out).expect("temp dir");
    tonic_prost_build::configure()
        .build_server(true)
        .build_client(true)
        .out_dir(&out)
        .compile_fds(descriptors)
        .expect("code generation");
    let fresh = std::fs::read_to_string(out.join("cassia.v1.rs")).expect("generated file");
    let _ = std::fs::remove_dir_all(&out);
    let target = api.join("src/generated/cassia.v1.rs");
    if check {
        let current = std::fs::read_to_string(&target).expect("checked-in generated code");
        if current != fresh {
            eprintln!(
                "{} is stale: run cargo run --manifest-path tools/protogen/Cargo.toml",
                target.display()
            );
            std::process::exit(1);
        }
        println!("generated code is current");
    } else {
        std::fs::write(&target, fresh).expect("write generated code");
        println!("wrote {}", target.display());
    }
}
