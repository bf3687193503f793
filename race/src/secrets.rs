//! Tokens, invite codes and ids: random, and tokens stored only as their SHA-256.

use rand::Rng;
use sha2::{Digest, Sha256};

/// Crockford's base32 without the look-alikes (no I, L, O, U): easy to read off a projector.
const ALPHABET: &[u8] = b"0123456789ABCDEFGHJKMNPQRSTVWXYZ";

fn random_text(len: usize) -> String {
    let mut rng = rand::rng();
    (0..len).map(|_| ALPHABET[rng.random_range(0..ALPHABET.len())] as char).collect()
}

/// A secret token (160 bits): the organiser's or a racer's credential.
pub fn token() -> String {
    random_text(32).to_ascii_lowercase()
}

/// A race's invite code (40 bits; it only lets someone join, not act as anyone).
pub fn invite_code() -> String {
    random_text(8)
}

/// An id for a race, racer or submission (60 bits; ids are public, they grant nothing).
pub fn id() -> String {
    random_text(12).to_ascii_lowercase()
}

/// Hex SHA-256 of `data`: how tokens are stored and model files are named.
pub fn sha256_hex(data: &[u8]) -> String {
    Sha256::digest(data).iter().map(|b| format!("{b:02x}")).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_are_long_random_and_hash_to_hex() {
        let (a, b) = (token(), token());
        assert_eq!(a.len(), 32);
        assert_ne!(a, b);
        assert_eq!(sha256_hex(b"abc"), "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
        assert!(invite_code().chars().all(|c| ALPHABET.contains(&(c as u8))));
    }
}
