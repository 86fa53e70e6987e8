//! `get_file`: a file from a URL, cached on disk and verified (Keras's
//! `tf.keras.utils.get_file`).
//!
//! A download streams into a temporary file beside the target while its SHA-256 is
//! computed; only a complete body with the expected hash is renamed into place. Any failure
//! — an HTTP error, a body shorter than its `Content-Length`, a wrong hash — removes the
//! temporary file, so the cache never holds a partial or unverified file under the real
//! name, and a later call simply tries again.

use crate::error::{Error, Result};
use sha2::{Digest, Sha256};
use std::io::Read;
use std::path::{Path, PathBuf};

const OP: &str = "get_file";

/// wgflow's download cache, `~/.wgflow/datasets` (Keras's is `~/.keras/datasets`).
pub fn cache_dir() -> Result<PathBuf> {
    let home = std::env::var_os("HOME")
        .or_else(|| std::env::var_os("USERPROFILE"))
        .filter(|h| !h.is_empty())
        .ok_or_else(|| {
            Error::invalid(
                OP,
                "no home directory (HOME is unset) for the cache ~/.wgflow/datasets; set \
                 WGFLOW_DATASETS to a folder holding the dataset or pass a cache_dir",
            )
        })?;
    Ok(PathBuf::from(home).join(".wgflow").join("datasets"))
}

/// The file `fname` (a name or a relative path such as `mnist/t10k-labels-idx1-ubyte.gz`)
/// under `cache_dir` (default [`cache_dir()`]), downloaded from `origin` if it is not
/// there yet. With `file_hash` (a SHA-256 hex digest) a download must match it, and a file
/// already in the cache that does not is downloaded again, as in Keras. Returns the path.
///
/// Fails with the URL and the reason — the HTTP status, a short body, or the expected and
/// actual hashes — and never leaves a partial file behind. In the browser (wasm32) there is
/// no download: a missing file is an error naming where to put it.
///
/// ```no_run
/// use wgflow::data::datasets::get_file;
/// let path = get_file(
///     "mnist/t10k-labels-idx1-ubyte.gz",
///     "https://storage.googleapis.com/cvdf-datasets/mnist/t10k-labels-idx1-ubyte.gz",
///     Some("f7ae60f92e00ec6debd23a6088c31dbd2371eca3ffa0defaefb259924204aec6"),
///     None,
/// )?;
/// # Ok::<(), wgflow::Error>(())
/// ```
pub fn get_file(
    fname: &str,
    origin: &str,
    file_hash: Option<&str>,
    cache_dir: Option<&Path>,
) -> Result<PathBuf> {
    let expected = file_hash.map(check_hash).transpose()?;
    let rel = Path::new(fname);
    if fname.is_empty() || rel.is_absolute() || rel.components().any(|c| c.as_os_str() == "..") {
        return Err(Error::invalid(
            OP,
            format!("fname must be a relative path inside the cache, got {fname:?}"),
        ));
    }
    let dir = match cache_dir {
        Some(d) => d.to_path_buf(),
        None => self::cache_dir()?,
    };
    let target = dir.join(rel);
    if target.is_file() {
        let Some(want) = &expected else {
            return Ok(target);
        };
        let have = sha256_file(&target)?;
        if &have == want {
            return Ok(target);
        }
        eprintln!(
            "{}: SHA-256 {have} is not the expected {want}; downloading it again",
            target.display()
        );
    }
    if let Some(parent) = target.parent() {
        std::fs::create_dir_all(parent).map_err(|e| Error::io(parent.display(), e))?;
    }
    eprintln!("Downloading data from {origin}");
    let tmp = TempFile(crate::npy::temp_path_beside(&target));
    let actual = download(origin, &tmp.0)?;
    if let Some(want) = &expected
        && &actual != want
    {
        return Err(Error::format(
            origin,
            format!(
                "SHA-256 of the download is {actual} but {want} was expected; the file was \
                 discarded"
            ),
        ));
    }
    std::fs::rename(&tmp.0, &target).map_err(|e| Error::io(target.display(), e))?;
    Ok(target)
}

/// A temporary download, removed when dropped unless it was renamed away first.
struct TempFile(PathBuf);

impl Drop for TempFile {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.0);
    }
}

/// `hash` in lower case, checked to be a SHA-256 hex digest.
fn check_hash(hash: &str) -> Result<String> {
    if hash.len() != 64 || !hash.bytes().all(|b| b.is_ascii_hexdigit()) {
        return Err(Error::invalid(
            OP,
            format!("file_hash must be a SHA-256 hex digest (64 hex digits), got {hash:?}"),
        ));
    }
    Ok(hash.to_ascii_lowercase())
}

fn hex(digest: &[u8]) -> String {
    digest.iter().map(|b| format!("{b:02x}")).collect()
}

/// The SHA-256 of a file, as lower-case hex.
pub fn sha256_file(path: &Path) -> Result<String> {
    let mut f = std::fs::File::open(path).map_err(|e| Error::io(path.display(), e))?;
    let mut h = Sha256::new();
    let mut buf = vec![0u8; 1 << 16];
    loop {
        let n = f.read(&mut buf).map_err(|e| Error::io(path.display(), e))?;
        if n == 0 {
            return Ok(hex(&h.finalize()));
        }
        h.update(&buf[..n]);
    }
}

/// Whether `url` names this machine, which is never reached through a proxy.
#[cfg(not(target_arch = "wasm32"))]
fn is_loopback(url: &str) -> bool {
    let rest = url.split("://").nth(1).unwrap_or(url);
    let host = rest.split(['/', '?']).next().unwrap_or("");
    let host = host.rsplit('@').next().unwrap_or(host);
    let host = if host.starts_with('[') {
        host.split(']').next().map(|h| &h[1..]).unwrap_or(host)
    } else {
        host.split(':').next().unwrap_or(host)
    };
    host == "localhost"
        || host
            .parse::<std::net::IpAddr>()
            .is_ok_and(|ip| ip.is_loopback())
}

/// Streams `url` into `path`, returning the body's SHA-256. Errors name the URL.
#[cfg(not(target_arch = "wasm32"))]
fn download(url: &str, path: &Path) -> Result<String> {
    use std::io::Write;
    use std::time::Duration;
    let net = |msg: String| Error::io(url, std::io::Error::other(format!("{OP}: {msg}")));
    let mut config = ureq::Agent::config_builder()
        .http_status_as_error(false)
        .timeout_connect(Some(Duration::from_secs(30)))
        .timeout_recv_response(Some(Duration::from_secs(60)));
    if is_loopback(url) {
        config = config.proxy(None);
    }
    let agent: ureq::Agent = config.build().into();
    let response = agent
        .get(url)
        .call()
        .map_err(|e| net(format!("request failed: {e}")))?;
    let status = response.status();
    if !status.is_success() {
        return Err(net(format!("HTTP status {status}")));
    }
    let declared: Option<u64> = response
        .headers()
        .get("content-length")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.trim().parse().ok());
    let mut body = response.into_body().into_reader();
    let file = std::fs::File::create(path).map_err(|e| Error::io(path.display(), e))?;
    let mut out = std::io::BufWriter::with_capacity(1 << 20, file);
    let mut h = Sha256::new();
    let mut buf = vec![0u8; 1 << 16];
    let mut got = 0u64;
    loop {
        let n = match body.read(&mut buf) {
            Ok(0) => break,
            Ok(n) => n,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
            Err(e) => {
                return Err(net(format!(
                    "the body broke off after {got} bytes{}: {e}",
                    declared.map_or(String::new(), |d| format!(" of {d}"))
                )));
            }
        };
        h.update(&buf[..n]);
        out.write_all(&buf[..n])
            .map_err(|e| Error::io(path.display(), e))?;
        got += n as u64;
    }
    if let Some(d) = declared
        && d != got
    {
        return Err(net(format!(
            "the body has {got} bytes but Content-Length said {d}"
        )));
    }
    let file = out
        .into_inner()
        .map_err(|e| Error::io(path.display(), e.into_error()))?;
    file.sync_all().map_err(|e| Error::io(path.display(), e))?;
    Ok(hex(&h.finalize()))
}

#[cfg(target_arch = "wasm32")]
fn download(url: &str, path: &Path) -> Result<String> {
    Err(Error::invalid(
        OP,
        format!(
            "cannot download {url} in the browser build; the file is expected at {}",
            path.display()
        ),
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn loopback_urls() {
        assert!(is_loopback("http://127.0.0.1:8080/x"));
        assert!(is_loopback("http://localhost/x"));
        assert!(is_loopback("http://[::1]:9/x"));
        assert!(!is_loopback(
            "https://storage.googleapis.com/cvdf-datasets/mnist/"
        ));
        assert!(!is_loopback("http://127.0.0.1.example.com/"));
    }

    #[test]
    fn hashes_are_checked_and_lowercased() {
        assert!(check_hash("abc").is_err());
        let h = "F7AE60F92E00EC6DEBD23A6088C31DBD2371ECA3FFA0DEFAEFB259924204AEC6";
        assert_eq!(check_hash(h).unwrap(), h.to_ascii_lowercase());
        // SHA-256 of the empty string (FIPS 180-2 test vector).
        assert_eq!(
            hex(&Sha256::digest(b"")),
            "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
        );
    }
}
