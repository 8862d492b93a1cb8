// protoc comes from the protoc-bin-vendored crate so the build needs no system protoc.
fn main() {
    let protoc = protoc_bin_vendored::protoc_bin_path().expect("vendored protoc");
    std::env::set_var("PROTOC", protoc);
    println!("cargo:rerun-if-changed=proto/control.proto");
    tonic_prost_build::configure()
        .compile_protos(&["proto/control.proto"], &["proto/"])
        .expect("compile control.proto");
}
