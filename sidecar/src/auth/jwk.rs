// SPDX-License-Identifier: BUSL-1.1
//! Which keys of a JWKS are trusted, and for which algorithms: signature keys only (`use`,
//! `key_ops`); RSA of 2048 to 4096 bits for RS256/384/512, P-256 and P-384 for their one ES
//! algorithm, Ed25519 for EdDSA; never symmetric keys. A key's `alg`, when given, must agree.

use jsonwebtoken::{Algorithm, DecodingKey, DecodingKeyKind};
use serde::Deserialize;

/// 2048 bits: anything shorter is considered breakable.
const MIN_RSA_MODULUS_BYTES: usize = 256;
/// 4096 bits: the RSA backend refuses larger moduli, so such keys could never verify.
const MAX_RSA_MODULUS_BYTES: usize = 512;

/// A key of the JWKS that may verify tokens, and the algorithms it may verify.
pub(super) struct VerificationKey {
    pub kid: Option<String>,
    pub algorithms: Vec<Algorithm>,
    pub key: DecodingKey,
}

#[derive(Deserialize)]
pub(super) struct RawJwk {
    kty: String,
    kid: Option<String>,
    #[serde(rename = "use")]
    key_use: Option<String>,
    key_ops: Option<Vec<String>>,
    alg: Option<String>,
    crv: Option<String>,
    n: Option<String>,
    e: Option<String>,
    x: Option<String>,
    y: Option<String>,
}

/// The key `raw` describes, or why it is not trusted for verifying tokens.
pub(super) fn parse_jwk(raw: RawJwk) -> Result<VerificationKey, &'static str> {
    if raw.key_use.as_deref().is_some_and(|u| u != "sig") {
        return Err("key is not for signatures");
    }
    if raw
        .key_ops
        .as_ref()
        .is_some_and(|ops| !ops.iter().any(|op| op == "verify"))
    {
        return Err("key_ops does not allow verify");
    }
    let (algorithms, key) = match raw.kty.as_str() {
        "RSA" => {
            let algorithms = match raw.alg.as_deref() {
                None => vec![Algorithm::RS256, Algorithm::RS384, Algorithm::RS512],
                Some("RS256") => vec![Algorithm::RS256],
                Some("RS384") => vec![Algorithm::RS384],
                Some("RS512") => vec![Algorithm::RS512],
                Some(_) => return Err("RSA key for an algorithm other than RS256/RS384/RS512"),
            };
            let (Some(n), Some(e)) = (raw.n.as_deref(), raw.e.as_deref()) else {
                return Err("RSA key without n/e");
            };
            let key =
                DecodingKey::from_rsa_components(n, e).map_err(|_| "RSA n/e not base64url")?;
            let DecodingKeyKind::RsaModulusExponent { n, e } = key.kind() else {
                return Err("RSA key of unexpected shape");
            };
            let significant = n.iter().skip_while(|b| **b == 0).count();
            if significant < MIN_RSA_MODULUS_BYTES {
                return Err("RSA modulus shorter than 2048 bits");
            }
            if significant > MAX_RSA_MODULUS_BYTES {
                return Err("RSA modulus longer than 4096 bits");
            }
            if e.iter().all(|b| *b == 0) {
                return Err("RSA exponent is zero");
            }
            (algorithms, key)
        }
        "EC" => {
            let (alg, alg_name, coordinate_len) = match raw.crv.as_deref() {
                Some("P-256") => (Algorithm::ES256, "ES256", 32),
                Some("P-384") => (Algorithm::ES384, "ES384", 48),
                _ => return Err("unsupported EC curve"),
            };
            if raw.alg.as_deref().is_some_and(|a| a != alg_name) {
                return Err("EC key alg does not match its curve");
            }
            let (Some(x), Some(y)) = (raw.x.as_deref(), raw.y.as_deref()) else {
                return Err("EC key without x/y");
            };
            let key = DecodingKey::from_ec_components(x, y).map_err(|_| "EC x/y not base64url")?;
            // Wrong-length coordinates would only fail later, on every request.
            if !key
                .try_get_as_bytes()
                .is_ok_and(|b| b.len() == 1 + 2 * coordinate_len)
            {
                return Err("EC coordinates have the wrong length");
            }
            (vec![alg], key)
        }
        "OKP" => {
            if raw.crv.as_deref() != Some("Ed25519") {
                return Err("unsupported OKP curve");
            }
            // "Ed25519" is the fully-specified name from RFC 9864.
            if raw
                .alg
                .as_deref()
                .is_some_and(|a| a != "EdDSA" && a != "Ed25519")
            {
                return Err("OKP key alg is not EdDSA");
            }
            let Some(x) = raw.x.as_deref() else {
                return Err("OKP key without x");
            };
            let key = DecodingKey::from_ed_components(x).map_err(|_| "OKP x not base64url")?;
            // The EdDSA backend slices the first 32 bytes and panics on shorter input.
            if !key.try_get_as_bytes().is_ok_and(|b| b.len() == 32) {
                return Err("Ed25519 key has the wrong length");
            }
            (vec![Algorithm::EdDSA], key)
        }
        "oct" => return Err("symmetric keys are never trusted"),
        _ => return Err("unsupported key type"),
    };
    Ok(VerificationKey {
        kid: raw.kid,
        algorithms,
        key,
    })
}

#[cfg(test)]
mod tests {
    use base64::engine::general_purpose::URL_SAFE_NO_PAD;
    use base64::Engine;
    use serde_json::{json, Value};

    use super::*;

    fn b64url(bytes: &[u8]) -> String {
        URL_SAFE_NO_PAD.encode(bytes)
    }

    fn parse(jwk: Value) -> Result<Vec<Algorithm>, &'static str> {
        parse_jwk(serde_json::from_value(jwk).unwrap()).map(|k| k.algorithms)
    }

    #[test]
    fn jwk_type_decides_the_algorithms() {
        use Algorithm::*;
        let n = b64url(&[0xc5; 256]);
        let rsa = json!({"kty": "RSA", "n": n, "e": "AQAB"});
        assert_eq!(parse(rsa.clone()), Ok(vec![RS256, RS384, RS512]));
        for (alg, expected) in [("RS256", RS256), ("RS384", RS384), ("RS512", RS512)] {
            let mut jwk = rsa.clone();
            jwk["alg"] = json!(alg);
            assert_eq!(parse(jwk), Ok(vec![expected]));
        }
        for alg in ["PS256", "HS256", "none", "ES256"] {
            let mut jwk = rsa.clone();
            jwk["alg"] = json!(alg);
            assert!(parse(jwk).is_err(), "{alg}");
        }

        let c32 = b64url(&[7; 32]);
        let c48 = b64url(&[7; 48]);
        assert_eq!(
            parse(json!({"kty": "EC", "crv": "P-256", "x": c32, "y": c32})),
            Ok(vec![ES256])
        );
        assert_eq!(
            parse(json!({"kty": "EC", "crv": "P-384", "x": c48, "y": c48})),
            Ok(vec![ES384])
        );
        assert_eq!(
            parse(json!({"kty": "EC", "crv": "P-256", "alg": "ES256", "x": c32, "y": c32})),
            Ok(vec![ES256])
        );
        assert!(
            parse(json!({"kty": "EC", "crv": "P-256", "alg": "ES384", "x": c32, "y": c32}))
                .is_err()
        );
        assert!(parse(json!({"kty": "EC", "crv": "P-521", "x": c32, "y": c32})).is_err());
        assert!(parse(json!({"kty": "EC", "crv": "P-384", "x": c32, "y": c32})).is_err());
        assert!(parse(json!({"kty": "EC", "crv": "P-256", "x": c32})).is_err());

        assert_eq!(
            parse(json!({"kty": "OKP", "crv": "Ed25519", "x": c32})),
            Ok(vec![EdDSA])
        );
        assert_eq!(
            parse(json!({"kty": "OKP", "crv": "Ed25519", "alg": "EdDSA", "x": c32})),
            Ok(vec![EdDSA])
        );
        assert!(parse(json!({"kty": "OKP", "crv": "X25519", "x": c32})).is_err());
        assert!(parse(json!({"kty": "OKP", "crv": "Ed25519", "x": b64url(&[7; 16])})).is_err());
        assert!(parse(json!({"kty": "OKP", "crv": "Ed25519", "alg": "ES256", "x": c32})).is_err());

        assert!(parse(json!({"kty": "oct", "k": "c2VjcmV0"})).is_err());
        assert!(
            parse(json!({"kty": "oct", "k": "c2VjcmV0", "alg": "HS256", "use": "sig"})).is_err()
        );
        assert!(parse(json!({"kty": "MADE-UP"})).is_err());
    }

    #[test]
    fn jwk_use_key_ops_and_size_are_checked() {
        let n = b64url(&[0xc5; 256]);
        let with = |field: &str, value: Value| {
            let mut jwk = json!({"kty": "RSA", "n": n, "e": "AQAB"});
            jwk[field] = value;
            parse(jwk)
        };
        assert!(with("use", json!("sig")).is_ok());
        assert!(with("use", json!("enc")).is_err());
        assert!(with("key_ops", json!(["verify"])).is_ok());
        assert!(with("key_ops", json!(["encrypt", "wrapKey"])).is_err());
        assert!(
            with("n", json!(b64url(&[0xc5; 128]))).is_err(),
            "1024-bit RSA"
        );
        // Leading zero bytes do not make a short modulus long.
        let mut padded = vec![0; 200];
        padded.extend_from_slice(&[0xc5; 128]);
        assert!(with("n", json!(b64url(&padded))).is_err());
        assert!(
            with("n", json!(b64url(&[0xc5; 513]))).is_err(),
            "over 4096-bit RSA"
        );
        assert!(with("e", json!("AA")).is_err());
        assert!(with("n", json!("not base64!")).is_err());
    }
}
