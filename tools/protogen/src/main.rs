//! Regenerates `api/src/generated/cassia.v1.rs` (code) and `cassia.v1.bin` (the encoded file
//! descriptor set that gRPC server reflection serves) from `api/proto/`, or with `--check` fails
//! if either checked-in file is stale. Kept outside the workspace so its build-time crates never
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
    let descriptor_bytes = prost::Message::encode_to_vec(&descriptors);
    let out = std::env::temp_dir().join(format!("cassia-protogen-{}", std::process::id()));
    std::fs::create_dir_all(&out).expect("temp dir");
    tonic_prost_build::configure()
        .build_server(true)
        .build_client(true)
        .out_dir(&out)
        .compile_fds(descriptors)
        .expect("code generation");
    let code = std::fs::read(out.join("cassia.v1.rs")).expect("generated file");
    let _ = std::fs::remove_dir_all(&out);
    let generated = api.join("src/generated");
    let outputs = [("cassia.v1.rs", code), ("cassia.v1.bin", descriptor_bytes)];
    let mut stale = false;
    for (name, fresh) in outputs {
        let target = generated.join(name);
        if check {
            if std::fs::read(&target).ok().as_deref() != Some(fresh.as_slice()) {
                eprintln!(
                    "{} is stale: run cargo run --manifest-path tools/protogen/Cargo.toml",
                    target.display()
                );
                stale = true;
            }
        } else {
            std::fs::write(&target, fresh).expect("write generated file");
            println!("wrote {}", target.display());
        }
    }
    if stale {
        std::process::exit(1);
    }
    if check {
        println!("generated code is current");
    }
}
