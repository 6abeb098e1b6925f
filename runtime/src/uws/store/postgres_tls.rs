//! TLS to the PostgreSQL job store, as libpq's `sslmode` and `sslrootcert` URL parameters say:
//!
//! - `disable`: never; `allow` and `prefer` (the default): when the server offers it;
//!   `require`: always — all three without checking the server's certificate, as libpq does,
//!   unless `sslrootcert` is given, when `require` checks it as `verify-ca` does;
//! - `verify-ca`: always, the certificate signed by a root of `sslrootcert`;
//! - `verify-full`: as `verify-ca`, and issued for the host the URL names.
//!
//! `sslcert` and `sslkey` (PEM files, given together) are the certificate this client presents
//! when the server asks for one (`cert` authentication, `clientcert=verify-full`).
//!
//! `sslrootcert` is a PEM file of root certificates, or `system` for the system's roots; the
//! `verify-*` modes need it. As libpq 16, `sslrootcert=system` means `verify-full` and takes no
//! weaker mode: any public authority's certificate, for any name, would pass the others. The TLS is rustls with aws-lc-rs, the stack of the S3 client and of
//! OpenID Connect; SCRAM runs without channel binding.

use rustls::DigitallySignedStruct;
use rustls::client::WebPkiServerVerifier;
use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::crypto::WebPkiSupportedAlgorithms;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer, ServerName, UnixTime};
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio_postgres::config::SslMode;
use tokio_postgres::tls::{ChannelBinding, MakeTlsConnect, TlsConnect, TlsStream};

/// libpq's `sslmode`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Mode {
    Disable,
    Prefer,
    Require,
    VerifyCa,
    VerifyFull,
}

/// Takes libpq's TLS parameters out of a `postgres://` URL's query: the URL left for
/// tokio-postgres, the `sslmode` it is to use, and the connector that does what the parameters
/// say. A connection string of the `key=value` form passes as it is (no `sslmode` to set: it
/// has its own, and `verify-*` and `sslrootcert` are refused there).
pub(super) fn split(url: &str) -> Result<(String, Option<SslMode>, Connector), String> {
    let (mut mode, mut root, mut said) = (Mode::Prefer, None::<String>, false);
    let (mut client_cert, mut client_key) = (None::<String>, None::<String>);
    let mut rest = url.to_owned();
    let is_url = url.starts_with("postgres://") || url.starts_with("postgresql://");
    if let Some((base, query)) = url.split_once('?').filter(|_| is_url) {
        let mut kept = Vec::new();
        for pair in query.split('&') {
            let Some((key, value)) = form_urlencoded::parse(pair.as_bytes()).next() else { continue };
            match &*key {
                "sslmode" => {
                    said = true;
                    mode = match &*value {
                        "disable" => Mode::Disable,
                        "allow" | "prefer" => Mode::Prefer,
                        "require" => Mode::Require,
                        "verify-ca" => Mode::VerifyCa,
                        "verify-full" => Mode::VerifyFull,
                        other => return Err(format!("sslmode `{other}` is none of disable, allow, prefer, require, verify-ca, verify-full")),
                    }
                }
                "sslrootcert" => root = Some(value.into_owned()),
                "sslcert" => client_cert = Some(value.into_owned()),
                "sslkey" => client_key = Some(value.into_owned()),
                _ => kept.push(pair),
            }
        }
        rest = if kept.is_empty() { base.to_owned() } else { format!("{base}?{}", kept.join("&")) };
    }
    if root.as_deref() == Some("system") {
        match mode {
            Mode::VerifyFull => {}
            _ if !said => mode = Mode::VerifyFull,
            _ => return Err("sslrootcert=system needs sslmode verify-full (any public authority's certificate would pass a weaker mode)".into()),
        }
    }
    let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
    let roots = match root.as_deref().map(roots).transpose()? {
        Some(roots) => Some(Arc::new(roots)),
        None if matches!(mode, Mode::VerifyCa | Mode::VerifyFull) => {
            return Err("sslmode verify-ca and verify-full need sslrootcert: a PEM file of root certificates, or `system`".into());
        }
        None => None,
    };
    let verifier: Arc<dyn ServerCertVerifier> = match roots {
        None => Arc::new(Unchecked(provider.signature_verification_algorithms)),
        Some(roots) => {
            let webpki = WebPkiServerVerifier::builder_with_provider(roots, provider.clone()).build().map_err(|e| format!("sslrootcert: {e}"))?;
            if mode == Mode::VerifyFull { webpki } else { Arc::new(AnyName(webpki)) }
        }
    };
    let builder = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| e.to_string())?
        .dangerous()
        .with_custom_certificate_verifier(verifier);
    let mut config = match (client_cert, client_key) {
        (None, None) => builder.with_no_client_auth(),
        (Some(cert), Some(key)) => {
            let chain = CertificateDer::pem_file_iter(&cert)
                .and_then(|certs| certs.collect::<Result<Vec<_>, _>>())
                .map_err(|e| format!("sslcert `{cert}`: {e}"))?;
            let key = PrivateKeyDer::from_pem_file(&key).map_err(|e| format!("sslkey `{key}`: {e}"))?;
            builder.with_client_auth_cert(chain, key).map_err(|e| format!("sslcert and sslkey: {e}"))?
        }
        _ => return Err("sslcert and sslkey go together: the client certificate and its private key".into()),
    };
    // PostgreSQL's ALPN name, which PostgreSQL 17 requires of a direct TLS connection
    // (`sslnegotiation=direct`) and takes in the usual one.
    config.alpn_protocols = vec![b"postgresql".to_vec()];
    let ssl_mode = is_url.then_some(match mode {
        Mode::Disable => SslMode::Disable,
        Mode::Prefer => SslMode::Prefer,
        Mode::Require | Mode::VerifyCa | Mode::VerifyFull => SslMode::Require,
    });
    Ok((rest, ssl_mode, Connector(Arc::new(config))))
}

/// The root certificates `sslrootcert` names: the system's, or those of a PEM file.
fn roots(root: &str) -> Result<rustls::RootCertStore, String> {
    let mut store = rustls::RootCertStore::empty();
    if root == "system" {
        let found = rustls_native_certs::load_native_certs();
        let (added, _) = store.add_parsable_certificates(found.certs);
        if added == 0 {
            return Err("sslrootcert=system: the system has no root certificates".into());
        }
        return Ok(store);
    }
    let certificates = CertificateDer::pem_file_iter(root)
        .and_then(|certs| certs.collect::<Result<Vec<_>, _>>())
        .map_err(|e| format!("sslrootcert `{root}`: {e}"))?;
    let (added, _) = store.add_parsable_certificates(certificates);
    if added == 0 {
        return Err(format!("sslrootcert `{root}` holds no certificate"));
    }
    Ok(store)
}

/// What `prefer` and `require` check without `sslrootcert`, as libpq: nothing of the
/// certificate (the connection is encrypted, the server not authenticated), but the handshake's
/// signatures are verified.
#[derive(Debug)]
struct Unchecked(WebPkiSupportedAlgorithms);

impl ServerCertVerifier for Unchecked {
    fn verify_server_cert(&self, _: &CertificateDer<'_>, _: &[CertificateDer<'_>], _: &ServerName<'_>, _: &[u8], _: UnixTime) -> Result<ServerCertVerified, rustls::Error> {
        Ok(ServerCertVerified::assertion())
    }

    fn verify_tls12_signature(&self, message: &[u8], cert: &CertificateDer<'_>, dss: &DigitallySignedStruct) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls12_signature(message, cert, dss, &self.0)
    }

    fn verify_tls13_signature(&self, message: &[u8], cert: &CertificateDer<'_>, dss: &DigitallySignedStruct) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls13_signature(message, cert, dss, &self.0)
    }

    fn supported_verify_schemes(&self) -> Vec<rustls::SignatureScheme> {
        self.0.supported_schemes()
    }
}

/// `verify-ca`: the certificate's chain to a root is checked, not the name it was issued for.
#[derive(Debug)]
struct AnyName(Arc<WebPkiServerVerifier>);

impl ServerCertVerifier for AnyName {
    fn verify_server_cert(&self, end_entity: &CertificateDer<'_>, intermediates: &[CertificateDer<'_>], name: &ServerName<'_>, ocsp: &[u8], now: UnixTime) -> Result<ServerCertVerified, rustls::Error> {
        use rustls::CertificateError::{NotValidForName, NotValidForNameContext};
        // The name is checked last, once the chain is good: its failure alone is forgiven.
        match self.0.verify_server_cert(end_entity, intermediates, name, ocsp, now) {
            Err(rustls::Error::InvalidCertificate(NotValidForName | NotValidForNameContext { .. })) => Ok(ServerCertVerified::assertion()),
            other => other,
        }
    }

    fn verify_tls12_signature(&self, message: &[u8], cert: &CertificateDer<'_>, dss: &DigitallySignedStruct) -> Result<HandshakeSignatureValid, rustls::Error> {
        self.0.verify_tls12_signature(message, cert, dss)
    }

    fn verify_tls13_signature(&self, message: &[u8], cert: &CertificateDer<'_>, dss: &DigitallySignedStruct) -> Result<HandshakeSignatureValid, rustls::Error> {
        self.0.verify_tls13_signature(message, cert, dss)
    }

    fn supported_verify_schemes(&self) -> Vec<rustls::SignatureScheme> {
        self.0.supported_verify_schemes()
    }
}

/// Makes the TLS connections of the store's pool and listener.
#[derive(Debug, Clone)]
pub(super) struct Connector(Arc<rustls::ClientConfig>);

impl<S: AsyncRead + AsyncWrite + Unpin + Send + 'static> MakeTlsConnect<S> for Connector {
    type Stream = Stream<S>;
    type TlsConnect = Connect;
    type Error = std::convert::Infallible;

    /// A host that is no name (a Unix socket's, which has none) fails only if TLS is tried: a
    /// server offers none over a Unix socket, and `prefer` goes on without it.
    fn make_tls_connect(&mut self, host: &str) -> Result<Connect, Self::Error> {
        Ok(Connect(self.0.clone(), ServerName::try_from(host.to_owned()).map_err(|_| host.to_owned())))
    }
}

/// One connection's handshake, with the host it is for (or the text that names none).
pub(super) struct Connect(Arc<rustls::ClientConfig>, Result<ServerName<'static>, String>);

impl<S: AsyncRead + AsyncWrite + Unpin + Send + 'static> TlsConnect<S> for Connect {
    type Stream = Stream<S>;
    type Error = std::io::Error;
    type Future = Pin<Box<dyn Future<Output = std::io::Result<Stream<S>>> + Send>>;

    fn connect(self, stream: S) -> Self::Future {
        let Connect(config, name) = self;
        Box::pin(async move {
            let name = name.map_err(|host| std::io::Error::new(std::io::ErrorKind::InvalidInput, format!("`{host}` is no host name to check a certificate against")))?;
            tokio_rustls::TlsConnector::from(config).connect(name, stream).await.map(Stream)
        })
    }
}

/// A TLS connection to the database.
pub(super) struct Stream<S>(tokio_rustls::client::TlsStream<S>);

impl<S: AsyncRead + AsyncWrite + Unpin> TlsStream for Stream<S> {
    fn channel_binding(&self) -> ChannelBinding {
        ChannelBinding::none()
    }
}

impl<S: AsyncRead + AsyncWrite + Unpin> AsyncRead for Stream<S> {
    fn poll_read(mut self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &mut ReadBuf<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.0).poll_read(cx, buf)
    }
}

impl<S: AsyncRead + AsyncWrite + Unpin> AsyncWrite for Stream<S> {
    fn poll_write(mut self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &[u8]) -> Poll<std::io::Result<usize>> {
        Pin::new(&mut self.0).poll_write(cx, buf)
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.0).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.0).poll_shutdown(cx)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn libpq_tls_parameters_leave_the_url() {
        let (url, mode, _) = split("postgresql://u:p@db:5432/uws?application_name=a&sslmode=require&connect_timeout=3").unwrap();
        assert_eq!((url.as_str(), mode), ("postgresql://u:p@db:5432/uws?application_name=a&connect_timeout=3", Some(SslMode::Require)));
        let (url, mode, _) = split("postgres://db/uws").unwrap();
        assert_eq!((url.as_str(), mode), ("postgres://db/uws", Some(SslMode::Prefer)));
        let (url, mode, _) = split("postgres://db/uws?sslmode=disable").unwrap();
        assert_eq!((url.as_str(), mode), ("postgres://db/uws", Some(SslMode::Disable)));
        assert!(split("postgres://db/uws?sslmode=verify-ca").unwrap_err().contains("need sslrootcert"));
        assert!(split("postgres://db/uws?sslmode=sometimes").unwrap_err().contains("`sometimes` is none of"));
        assert!(split("postgres://db/uws?sslmode=require&sslrootcert=/no/such.pem").unwrap_err().contains("sslrootcert `/no/such.pem`"));
        assert!(split("postgres://db/uws?sslcert=/c.pem").unwrap_err().contains("sslcert and sslkey go together"));
        assert!(split("postgres://db/uws?sslcert=/no/c.pem&sslkey=/no/k.pem").unwrap_err().contains("sslcert `/no/c.pem`"));
        for weaker in ["disable", "prefer", "require", "verify-ca"] {
            let refused = split(&format!("postgres://db/uws?sslmode={weaker}&sslrootcert=system")).unwrap_err();
            assert!(refused.contains("sslrootcert=system needs sslmode verify-full"), "{weaker}: {refused}");
        }
        // The key=value form is tokio-postgres's to read.
        let (url, mode, _) = split("host=db sslmode=require").unwrap();
        assert_eq!((url.as_str(), mode), ("host=db sslmode=require", None));
    }
}
