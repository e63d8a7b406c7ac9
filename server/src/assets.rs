//! Build-time compression of the static assets (JS, CSS, wasm): brotli at its best quality is
//! too slow to run per request, and the link page's byte budget counts compressed bytes.

use std::{fs, io::Write, path::Path};

use anyhow::Context;

const COMPRESSIBLE: &[&str] = &["js", "css", "wasm", "svg", "txt"];

pub fn precompress(dir: &Path) -> anyhow::Result<()> {
    for entry in fs::read_dir(dir).with_context(|| format!("reading {}", dir.display()))? {
        let path = entry?.path();
        let ext = path.extension().and_then(|e| e.to_str()).unwrap_or_default();
        if !path.is_file() || !COMPRESSIBLE.contains(&ext) {
            continue;
        }
        let data = fs::read(&path)?;

        let mut br = Vec::new();
        {
            let params = brotli::enc::BrotliEncoderParams { quality: 11, lgwin: 22, ..Default::default() };
            brotli::BrotliCompress(&mut &data[..], &mut br, &params)?;
        }
        fs::write(with_suffix(&path, "br"), &br)?;

        let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::best());
        gz.write_all(&data)?;
        fs::write(with_suffix(&path, "gz"), gz.finish()?)?;
        println!("{}: {} bytes, br {} bytes", path.display(), data.len(), br.len());
    }
    Ok(())
}

fn with_suffix(path: &Path, suffix: &str) -> std::path::PathBuf {
    let mut name = path.as_os_str().to_owned();
    name.push(".");
    name.push(suffix);
    name.into()
}
