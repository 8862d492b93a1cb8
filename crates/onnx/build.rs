// protoc comes from the protoc-bin-vendored crate so the build needs no system protoc.
fn main() {
    let protoc = protoc_bin_vendored::protoc_bin_path().expect("vendored protoc");
    std::env::set_var("PROTOC", protoc);
    println!("cargo:rerun-if-changed=proto/onnx_subset.proto");
    prost_build::Config::new()
        .compile_protos(&["proto/onnx_subset.proto"], &["proto/"])
        .expect("compile onnx_subset.proto");
}
