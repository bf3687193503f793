// Generates the gRPC code from proto/worker.proto with protox (pure Rust: no protoc needed).
fn main() -> Result<(), Box<dyn std::error::Error>> {
    let protos = ["proto/worker.proto"];
    for p in &protos {
        println!("cargo:rerun-if-changed={p}");
    }
    let descriptors = protox::compile(protos, ["proto"])?;
    tonic_prost_build::configure().build_server(true).build_client(true).compile_fds(descriptors)?;
    Ok(())
}
