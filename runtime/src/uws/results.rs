//! Where jobs' results live: files under the data directory (the default), or objects in an
//! S3 bucket (`--result-store s3://BUCKET/PREFIX`), which every replica reads and writes alike.
//!
//! A result is written as it is produced: to its file, or to its object (one PUT when it is
//! small, a multipart upload of 8 MiB parts when it is not, so at most one part is in memory).
//! It is served streamed through the server, or, with `--result-redirect`, as a redirect to a
//! presigned URL of the object. Deleting a job deletes its objects.

// Without the `s3` feature, the job and result names only S3 uses are left unused.
#![cfg_attr(not(feature = "s3"), allow(unused_variables))]

use std::path::{Path, PathBuf};
use std::time::Duration;

/// Where results are kept.
#[derive(Clone)]
pub enum ResultStore {
    /// `DIR/JOB/RESULT` files (`DIR` is `DATA_DIR/results`).
    Local(PathBuf),
    /// `PREFIX/JOB/RESULT` objects of a bucket.
    #[cfg(feature = "s3")]
    S3(s3::Bucket),
}

impl std::fmt::Debug for ResultStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            ResultStore::Local(dir) => write!(f, "Local({})", dir.display()),
            #[cfg(feature = "s3")]
            ResultStore::S3(bucket) => write!(f, "S3({bucket})"),
        }
    }
}

/// Where one stored result is, for serving it.
pub enum Stored {
    /// A file.
    File(PathBuf),
    /// An object: its body, streamed.
    #[cfg(feature = "s3")]
    Object(axum::body::Body),
    /// An object: a presigned URL of it.
    Redirect(String),
}

impl ResultStore {
    /// The store `url` names (`s3://BUCKET/PREFIX`; endpoint, region and credentials from the
    /// usual `AWS_*` variables), with results served as redirects to presigned URLs valid for
    /// `redirect`; `None` keeps them under `data_dir/results`.
    pub fn open(url: Option<&str>, redirect: Option<Duration>, data_dir: &Path) -> Result<ResultStore, String> {
        match url {
            None => Ok(ResultStore::Local(data_dir.join("results"))),
            #[cfg(feature = "s3")]
            Some(url) => s3::Bucket::open(url, redirect).map(ResultStore::S3),
            #[cfg(not(feature = "s3"))]
            Some(url) => {
                Err(format!("`{url}`: this server was built without the runtime's `s3` feature"))
            }
        }
    }

    /// The local folder of job `id`: its results (local store), and the files of the request
    /// that created it, as a replica keeps them to run the job.
    pub fn local_dir(&self, data_dir: &Path, id: &str) -> PathBuf {
        match self {
            ResultStore::Local(dir) => dir.join(id),
            #[cfg(feature = "s3")]
            ResultStore::S3(_) => data_dir.join("results").join(id),
        }
    }

    /// Stores result `result` of job `id` as `write` writes it; its size. Blocking.
    pub(crate) fn put(&self, local: &Path, id: &str, result: &str, write: &mut dyn FnMut(&mut dyn std::io::Write) -> std::io::Result<()>) -> std::io::Result<u64> {
        match self {
            ResultStore::Local(_) => {
                std::fs::create_dir_all(local)?;
                let path = local.join(result);
                let written = (|| {
                    let file = std::fs::File::create(&path)?;
                    let mut out = std::io::BufWriter::with_capacity(256 * 1024, file);
                    write(&mut out)?;
                    let file = out.into_inner().map_err(|e| e.into_error())?;
                    file.sync_data()?;
                    file.metadata().map(|m| m.len())
                })();
                if written.is_err() {
                    let _ = std::fs::remove_file(&path);
                }
                written
            }
            #[cfg(feature = "s3")]
            ResultStore::S3(bucket) => bucket.put(id, result, write),
        }
    }

    /// Removes a result that was stored and then refused (the job stopped meanwhile). Blocking.
    pub(crate) fn remove(&self, local: &Path, id: &str, result: &str) {
        match self {
            ResultStore::Local(_) => {
                let _ = std::fs::remove_file(local.join(result));
            }
            #[cfg(feature = "s3")]
            ResultStore::S3(bucket) => bucket.remove(id, result),
        }
    }

    /// Where result `result` of job `id` is, for serving it.
    pub async fn stored(&self, local: &Path, id: &str, result: &str) -> Result<Stored, String> {
        match self {
            ResultStore::Local(_) => Ok(Stored::File(local.join(result))),
            #[cfg(feature = "s3")]
            ResultStore::S3(bucket) => bucket.stored(id, result).await,
        }
    }

    /// Deletes everything of job `id`: its local folder, and its objects.
    pub async fn delete_job(&self, local: &Path, id: &str) {
        let _ = tokio::fs::remove_dir_all(local).await;
        #[cfg(feature = "s3")]
        if let ResultStore::S3(bucket) = self {
            bucket.delete_job(id).await;
        }
    }

    /// Keeps a copy of job `id`'s request files (in `dir`) where any replica finds them. Blocking.
    pub(crate) fn share_uploads(&self, dir: &Path, id: &str) -> Result<(), String> {
        match self {
            ResultStore::Local(_) => Ok(()),
            #[cfg(feature = "s3")]
            ResultStore::S3(bucket) => bucket.share_uploads(dir, id),
        }
    }

    /// Brings job `id`'s request files into `dir` when another replica received them. Blocking.
    pub(crate) fn fetch_uploads(&self, dir: &Path, id: &str) {
        match self {
            ResultStore::Local(_) => {}
            #[cfg(feature = "s3")]
            ResultStore::S3(bucket) => bucket.fetch_uploads(dir, id),
        }
    }
}

#[cfg(feature = "s3")]
mod s3 {
    //! Results as objects, through `object_store`'s S3 client.

    use super::Stored;
    use futures_util::StreamExt;
    use object_store::aws::{AmazonS3, AmazonS3Builder};
    use object_store::path::Path as Key;
    use object_store::signer::Signer;
    use object_store::{ObjectStore, ObjectStoreExt, PutPayload};
    use std::path::Path;
    use std::sync::Arc;
    use std::time::Duration;

    /// The size of a multipart upload's parts (S3 wants at least 5 MiB but for the last).
    const PART: usize = 8 << 20;

    /// The bucket and prefix results go to, and how they are served.
    #[derive(Clone)]
    pub struct Bucket {
        s3: Arc<AmazonS3>,
        prefix: String,
        url: String,
        redirect: Option<Duration>,
    }

    impl std::fmt::Display for Bucket {
        fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
            f.write_str(&self.url)
        }
    }

    /// Runs `future` to its end from blocking code: on a blocking thread, or (moving its worker's
    /// other tasks away) on a worker of the multi-threaded runtime.
    fn block_on<F: std::future::Future>(future: F) -> F::Output {
        let handle = tokio::runtime::Handle::current();
        tokio::task::block_in_place(move || handle.block_on(future))
    }

    fn io(e: object_store::Error) -> std::io::Error {
        std::io::Error::other(e.to_string())
    }

    impl Bucket {
        pub fn open(url: &str, redirect: Option<Duration>) -> Result<Bucket, String> {
            let rest = url.strip_prefix("s3://").ok_or_else(|| format!("`{url}` is not a result store URL (s3://BUCKET/PREFIX)"))?;
            let (bucket, prefix) = rest.split_once('/').unwrap_or((rest, ""));
            if bucket.is_empty() {
                return Err(format!("`{url}` names no bucket (s3://BUCKET/PREFIX)"));
            }
            let mut builder = AmazonS3Builder::from_env().with_bucket_name(bucket);
            let endpoint = ["AWS_ENDPOINT_URL_S3", "AWS_ENDPOINT_URL", "AWS_ENDPOINT"].iter().find_map(|v| std::env::var(v).ok());
            if endpoint.is_some_and(|e| e.starts_with("http://")) {
                builder = builder.with_allow_http(true);
            }
            let s3 = builder.build().map_err(|e| format!("`{url}`: {e}"))?;
            Ok(Bucket { s3: Arc::new(s3), prefix: prefix.trim_matches('/').to_owned(), url: url.to_owned(), redirect })
        }

        fn key(&self, id: &str, name: &str) -> Key {
            let mut parts: Vec<&str> = self.prefix.split('/').filter(|p| !p.is_empty()).collect();
            parts.push(id);
            parts.extend(name.split('/'));
            Key::from_iter(parts)
        }

        fn job_prefix(&self, id: &str) -> Key {
            let mut parts: Vec<&str> = self.prefix.split('/').filter(|p| !p.is_empty()).collect();
            parts.push(id);
            Key::from_iter(parts)
        }

        /// Writes one object as `write` produces it: one PUT if it fits a part, else a
        /// multipart upload, aborted if writing fails.
        pub fn put(&self, id: &str, result: &str, write: &mut dyn FnMut(&mut dyn std::io::Write) -> std::io::Result<()>) -> std::io::Result<u64> {
            let mut upload = Upload { bucket: self, key: self.key(id, result), buffer: Vec::with_capacity(64 * 1024), multipart: None, size: 0 };
            let written = write(&mut upload).and_then(|()| upload.finish());
            if written.is_err() {
                if let Some(mut multipart) = upload.multipart.take() {
                    let _ = block_on(multipart.abort());
                }
            }
            written
        }

        pub fn remove(&self, id: &str, result: &str) {
            let key = self.key(id, result);
            let _ = block_on(self.s3.delete(&key));
        }

        pub async fn stored(&self, id: &str, result: &str) -> Result<Stored, String> {
            let key = self.key(id, result);
            match self.redirect {
                Some(lifetime) => self.s3.signed_url(http::Method::GET, &key, lifetime).await.map(|u| Stored::Redirect(u.to_string())).map_err(|e| e.to_string()),
                None => {
                    let got = self.s3.get(&key).await.map_err(|e| e.to_string())?;
                    let stream = got.into_stream().map(|chunk| chunk.map_err(io));
                    Ok(Stored::Object(axum::body::Body::from_stream(stream)))
                }
            }
        }

        pub async fn delete_job(&self, id: &str) {
            let prefix = self.job_prefix(id);
            let keys: Vec<object_store::Result<Key>> = self.s3.list(Some(&prefix)).map(|meta| meta.map(|m| m.location)).collect().await;
            for key in keys.into_iter().flatten() {
                let _ = self.s3.delete(&key).await;
            }
        }

        pub fn share_uploads(&self, dir: &Path, id: &str) -> Result<(), String> {
            for sub in ["data", "type"] {
                let Ok(entries) = std::fs::read_dir(dir.join(sub)) else { continue };
                for entry in entries.flatten() {
                    let name = entry.file_name().to_string_lossy().into_owned();
                    let key = self.key(id, &format!(".uploads/{sub}/{name}"));
                    let mut file = std::fs::File::open(entry.path()).map_err(|e| e.to_string())?;
                    let mut upload = Upload { bucket: self, key, buffer: Vec::new(), multipart: None, size: 0 };
                    std::io::copy(&mut file, &mut upload).and_then(|_| upload.finish()).map_err(|e| format!("the job's files could not be stored: {e}"))?;
                }
            }
            Ok(())
        }

        pub fn fetch_uploads(&self, dir: &Path, id: &str) {
            if dir.exists() {
                return;
            }
            let prefix = self.key(id, ".uploads");
            let keys: Vec<object_store::Result<Key>> = block_on(self.s3.list(Some(&prefix)).map(|meta| meta.map(|m| m.location)).collect());
            for key in keys.into_iter().flatten() {
                let Some(relative) = key.as_ref().strip_prefix(prefix.as_ref()).map(|r| r.trim_start_matches('/').to_owned()) else { continue };
                let Some((sub, name)) = relative.split_once('/') else { continue };
                if !matches!(sub, "data" | "type") || name.contains('/') || name.starts_with('.') {
                    continue;
                }
                let target = dir.join(sub).join(name);
                let copied = (|| -> std::io::Result<()> {
                    std::fs::create_dir_all(dir.join(sub))?;
                    let mut file = std::fs::File::create(&target)?;
                    block_on(async {
                        let mut stream = self.s3.get(&key).await.map_err(io)?.into_stream();
                        while let Some(chunk) = stream.next().await {
                            std::io::Write::write_all(&mut file, &chunk.map_err(io)?)?;
                        }
                        Ok::<(), std::io::Error>(())
                    })
                })();
                if copied.is_err() {
                    let _ = std::fs::remove_file(&target);
                }
            }
        }
    }

    /// An object being written: parts of [`PART`] bytes uploaded as they fill.
    struct Upload<'a> {
        bucket: &'a Bucket,
        key: Key,
        buffer: Vec<u8>,
        multipart: Option<Box<dyn object_store::MultipartUpload>>,
        size: u64,
    }

    impl Upload<'_> {
        fn flush_part(&mut self) -> std::io::Result<()> {
            let part = PutPayload::from(std::mem::replace(&mut self.buffer, Vec::with_capacity(PART)));
            let bucket = self.bucket;
            let key = &self.key;
            let multipart = &mut self.multipart;
            block_on(async {
                if multipart.is_none() {
                    *multipart = Some(bucket.s3.put_multipart(key).await.map_err(io)?);
                }
                match multipart {
                    Some(upload) => upload.put_part(part).await.map_err(io),
                    None => Ok(()),
                }
            })
        }

        fn finish(&mut self) -> std::io::Result<u64> {
            match self.multipart.is_some() {
                false => {
                    let body = PutPayload::from(std::mem::take(&mut self.buffer));
                    block_on(self.bucket.s3.put(&self.key, body)).map_err(io)?;
                }
                true => {
                    if !self.buffer.is_empty() {
                        self.flush_part()?;
                    }
                    if let Some(upload) = self.multipart.as_mut() {
                        block_on(upload.complete()).map_err(io)?;
                    }
                    self.multipart = None;
                }
            }
            Ok(self.size)
        }
    }

    impl std::io::Write for Upload<'_> {
        fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
            let n = buf.len().min(PART - self.buffer.len());
            self.buffer.extend_from_slice(&buf[..n]);
            self.size += n as u64;
            if self.buffer.len() == PART {
                self.flush_part()?;
            }
            Ok(n)
        }

        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }
}
