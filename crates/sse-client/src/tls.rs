//! The rustls client configuration (the `rustls` feature): the roots to trust (the
//! bundled webpki roots, the operating system's with the `native-roots` feature,
//! and any added), built once, when the first `https` request needs it.

use std::sync::{Arc, OnceLock};

use rustls_pki_types::CertificateDer;

use crate::error::Error;

/// The TLS settings of an event source.
#[derive(Debug)]
pub(crate) struct Tls {
    /// A configuration given as it is ([`Builder::tls_config`](crate::Builder::tls_config)).
    pub(crate) config: Option<Arc<rustls::ClientConfig>>,
    /// Roots added besides the built-in ones.
    pub(crate) roots: Vec<CertificateDer<'static>>,
    /// Trust the bundled webpki (Mozilla) roots.
    pub(crate) webpki_roots: bool,
    /// Trust the operating system's roots (the `native-roots` feature).
    #[cfg_attr(not(feature = "native-roots"), allow(dead_code))]
    pub(crate) native_roots: bool,
    pub(crate) http1_only: bool,
    built: OnceLock<Result<Arc<rustls::ClientConfig>, String>>,
}

impl Default for Tls {
    fn default() -> Self {
        Tls {
            config: None,
            roots: Vec::new(),
            webpki_roots: true,
            native_roots: cfg!(feature = "native-roots"),
            http1_only: false,
            built: OnceLock::new(),
        }
    }
}

impl Tls {
    /// The configuration, built on first use.
    ///
    /// # Errors
    ///
    /// [`Error::Config`] for a root certificate rustls refuses, or no roots at all.
    pub(crate) fn config(&self) -> Result<Arc<rustls::ClientConfig>, Error> {
        if let Some(config) = &self.config {
            return Ok(config.clone());
        }
        self.built
            .get_or_init(|| self.build())
            .clone()
            .map_err(Error::Config)
    }

    fn build(&self) -> Result<Arc<rustls::ClientConfig>, String> {
        let mut roots = rustls::RootCertStore::empty();
        if self.webpki_roots {
            roots.extend(webpki_roots::TLS_SERVER_ROOTS.iter().cloned());
        }
        #[cfg(feature = "native-roots")]
        if self.native_roots {
            // The store's unreadable or unparsable entries are skipped, as curl
            // and reqwest skip them; an empty result is caught below.
            let native = rustls_native_certs::load_native_certs();
            roots.add_parsable_certificates(native.certs);
        }
        for cert in &self.roots {
            roots
                .add(cert.clone())
                .map_err(|e| format!("a root certificate: {e}"))?;
        }
        if roots.is_empty() {
            return Err("TLS: no root certificates to trust".into());
        }
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let mut config = rustls::ClientConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .map_err(|e| format!("TLS: {e}"))?
            .with_root_certificates(roots)
            .with_no_client_auth();
        config.alpn_protocols = if self.http1_only {
            vec![b"http/1.1".to_vec()]
        } else {
            vec![b"h2".to_vec(), b"http/1.1".to_vec()]
        };
        Ok(Arc::new(config))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn no_roots_at_all_is_a_config_error() {
        let tls = Tls {
            webpki_roots: false,
            native_roots: false,
            ..Tls::default()
        };
        assert!(matches!(tls.config(), Err(Error::Config(_))));
    }

    #[test]
    fn the_bundled_roots_and_alpn() {
        let config = Tls::default().config().unwrap();
        assert_eq!(
            config.alpn_protocols,
            [b"h2".to_vec(), b"http/1.1".to_vec()]
        );
        let http1 = Tls {
            http1_only: true,
            ..Tls::default()
        };
        assert_eq!(
            http1.config().unwrap().alpn_protocols,
            [b"http/1.1".to_vec()]
        );
    }

    #[cfg(feature = "native-roots")]
    #[test]
    fn the_os_roots_alone_build_when_the_system_has_some() {
        let native = rustls_native_certs::load_native_certs();
        let tls = Tls {
            webpki_roots: false,
            ..Tls::default()
        };
        assert_eq!(tls.config().is_ok(), !native.certs.is_empty());
    }
}
