//! Points the binaries and tests at libtorch's folder (rpath), so they run without
//! LD_LIBRARY_PATH. The real path, not the venv's symlink: libtorch finds its CUDA libraries
//! relative to where it really lies.
fn main() {
    println!("cargo:rerun-if-env-changed=LIBTORCH");
    if let Ok(dir) = std::env::var("LIBTORCH") {
        let dir = std::fs::canonicalize(&dir).unwrap_or_else(|_| dir.into());
        println!("cargo:rustc-link-arg=-Wl,-rpath,{}", dir.join("lib").display());
    }
}
