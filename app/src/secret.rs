//! The app's signing key: signs the remembered-buyer cookie and checkout return links. From
//! `CLINK_SECRET_KEY`, or generated once and kept in the data directory.

use base64::{Engine, engine::general_purpose::URL_SAFE_NO_PAD};
use hmac::{Hmac, Mac};
use sha2::Sha256;

#[derive(Clone)]
pub struct AppSecret(Vec<u8>);

impl std::fmt::Debug for AppSecret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("AppSecret(..)")
    }
}

impl AppSecret {
    pub fn new(key: impl Into<Vec<u8>>) -> Self {
        AppSecret(key.into())
    }

    /// A fresh random 256-bit key.
    pub fn generate() -> Self {
        use rand::RngCore;
        let mut key = vec![0u8; 32];
        rand::rng().fill_bytes(&mut key);
        AppSecret(key)
    }

    pub fn to_base64(&self) -> String {
        URL_SAFE_NO_PAD.encode(&self.0)
    }

    pub fn from_base64(encoded: &str) -> Option<Self> {
        URL_SAFE_NO_PAD.decode(encoded.trim()).ok().filter(|k| k.len() >= 32).map(AppSecret)
    }

    fn mac(&self, purpose: &str, data: &[u8]) -> Hmac<Sha256> {
        let mut mac = Hmac::<Sha256>::new_from_slice(&self.0).expect("HMAC takes any key length");
        mac.update(purpose.as_bytes());
        mac.update(&[0]);
        mac.update(data);
        mac
    }

    /// HMAC-SHA256 of `data` for one `purpose` (so a signature made for one use is worthless
    /// for another), base64url without padding.
    pub fn sign(&self, purpose: &str, data: &[u8]) -> String {
        URL_SAFE_NO_PAD.encode(self.mac(purpose, data).finalize().into_bytes())
    }

    /// Encrypts `plaintext` for one `purpose` (XChaCha20-Poly1305 under a key derived from this
    /// one, a random nonce), bound to `context` (an account id, say): it opens only for the same
    /// purpose and context. Base64url of nonce and ciphertext.
    pub fn seal(&self, purpose: &str, context: &[u8], plaintext: &[u8]) -> String {
        use chacha20poly1305::{
            XChaCha20Poly1305, XNonce,
            aead::{Aead, KeyInit, Payload},
        };
        use rand::RngCore;
        let cipher = XChaCha20Poly1305::new(&self.sealing_key(purpose).into());
        let mut nonce = [0u8; 24];
        rand::rng().fill_bytes(&mut nonce);
        let sealed = cipher
            .encrypt(XNonce::from_slice(&nonce), Payload { msg: plaintext, aad: context })
            .expect("encrypting in memory doesn't fail");
        let mut out = nonce.to_vec();
        out.extend(sealed);
        URL_SAFE_NO_PAD.encode(out)
    }

    /// What `seal` sealed, if it was sealed with this key for this purpose and context.
    pub fn open(&self, purpose: &str, context: &[u8], sealed: &str) -> Option<Vec<u8>> {
        use chacha20poly1305::{
            XChaCha20Poly1305, XNonce,
            aead::{Aead, KeyInit, Payload},
        };
        let bytes = URL_SAFE_NO_PAD.decode(sealed).ok()?;
        if bytes.len() < 24 {
            return None;
        }
        let (nonce, ciphertext) = bytes.split_at(24);
        let cipher = XChaCha20Poly1305::new(&self.sealing_key(purpose).into());
        cipher.decrypt(XNonce::from_slice(nonce), Payload { msg: ciphertext, aad: context }).ok()
    }

    /// A key for sealing, one per purpose, derived from this one (never used to sign).
    fn sealing_key(&self, purpose: &str) -> [u8; 32] {
        self.mac("sealing key", purpose.as_bytes()).finalize().into_bytes().into()
    }

    /// Constant-time check of a signature made by `sign`.
    pub fn verify(&self, purpose: &str, data: &[u8], signature: &str) -> bool {
        match URL_SAFE_NO_PAD.decode(signature) {
            Ok(sig) => self.mac(purpose, data).verify_slice(&sig).is_ok(),
            Err(_) => false,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn signatures_are_bound_to_key_purpose_and_data() {
        let a = AppSecret::generate();
        let b = AppSecret::generate();
        let sig = a.sign("cookie", b"hello");
        assert!(a.verify("cookie", b"hello", &sig));
        assert!(!a.verify("cookie", b"hellO", &sig));
        assert!(!a.verify("return", b"hello", &sig));
        assert!(!b.verify("cookie", b"hello", &sig));
        assert!(!a.verify("cookie", b"hello", "not base64!"));
        assert_eq!(AppSecret::from_base64(&a.to_base64()).unwrap().sign("x", b"y"), a.sign("x", b"y"));
        assert!(AppSecret::from_base64("short").is_none());
    }
}
