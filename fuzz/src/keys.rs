//! TEST-ONLY key material for the fuzz targets (generated once with openssl 3.0
//! for this harness; the private keys are public on purpose, never use them
//! for anything else).
//!
//! ```text
//! openssl genpkey -algorithm RSA -pkeyopt rsa_keygen_bits:2048 -out rsa.key
//! openssl req -new -x509 -key rsa.key -subj /CN=fuzz-test-only -days 36500 -out rsa.crt
//! openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 -pkeyopt ec_param_enc:named_curve -out ec.key
//! openssl genpkey -algorithm ED25519 -out ed.key
//! openssl genpkey -algorithm X25519 -out x25519.key          # jwe target (ECDH-ES)
//! openssl pkey -in X.key -pubout -out X.pub; openssl rand 32 > hmac.bin
//! ```

/// RSA 2048 private key (PKCS#8).
pub const RSA_PRIVATE_PEM: &str = "\
-----BEGIN PRIVATE KEY-----\n\
MIIEvQIBADANBgkqhkiG9w0BAQEFAASCBKcwggSjAgEAAoIBAQCpb5i81CT6UJA4\n\
+Aozi9KTHeJmjyDijNnFhf//cZ/101GctPuuKKWZ+qJU4i1z2u0yg/RsqlyaFfg7\n\
9Xshwlf4uiV1mSNQP4yHaAktSq1y8CDpqgpAMLtrsSjO0XSDS3u59t5LyrYouJ3I\n\
AfEXs8pk/Tja5r9PnD+W5RvXkoPuMhAsLAfd1CrwbYWXamZiiZxb3Z8Ha2hRZlE6\n\
xzS7TEfTECRjcHzrg8ukZXrut6Dl4/8MclxNgSvLRsOAgHMQ+JoeTEEQr37VVbHa\n\
CaPsXVozD2m8gl7+JS3weVcFjg77KW3HNMKyBAeI6NETfU14XOrk/5goEHGF0y9b\n\
B8dygc1vAgMBAAECggEAA74/PGi0D8Lzigv8xF/B6AB12HiFVvaaobD7U1bcxvmt\n\
/g1yLp+fl55rCKoIgVyO90SQA/iNhtVBFdNaBDMUGMlv+2rwgJzZdhetIDmGnxlB\n\
Tjg0oBoTgeZjiud4sKUxwg17TWcDODS/6O5rYkUquFQZy0g5ZhZYbJ/PdNHmpT6f\n\
sFgNRpXUnnLzibBEcQVa8S+23zN3Jiy3pjwj8JSZzoJA2EfbXmHpla8hbqKnfLdb\n\
0W+DDJI9Ax9hSv3LkLPrEiLxUL43+ddF/8vaEPEEFYI+bwmtYxFMbx318aJ9N21q\n\
2FRKNw+Wdk21+ATuzK+PIq4M6NNzIcABzVtw7jsfMQKBgQDUJ77E5OSMQ5BYKidg\n\
PXyDOxS3jU8ztRvYNe1DOs82H/4hpX8KN/6cfNU8bMUhePR6a38m/Ow4jOQA2fs3\n\
csrmdfKJWE7++UQ7Iudcj9kimN1+zR7xUpBvPIWfRRC/uanIG+zj9XaU72/Tn3Ye\n\
Ck6we3j74zbYT7vdc+t+WO3x/wKBgQDMc7+yE7RwVFrs5MtbBjuT61vT9CvhVbxI\n\
7vadl9m9mqi+IaG1Bho+7tsa66r7x40zzSAIp2+gk86S9l3hnnJYrRe3AnTxIRIc\n\
YSsz6zFBrSyYDArbXuYFYqKjDC21tLq+cEns0d0/GzmVNYL1gHCg3T+aYBM37V2f\n\
34X4eIxEkQKBgAEal9aEbmAAdf7PcVcB2uT/6LKvzIqzVYrBdROVecCJWBQqvUd7\n\
VRrRV3ayBjCPZY5Bgu7cAAqnSQRsHe+C7GVYlcN7LyYKe/1myBdmNDYG35gqTw/o\n\
YxIBGZzjihvFRonhA1GIVG6f9FAAk2fCm/g1HEMLQpzLhWm4kbAdnFdXAoGAZWnU\n\
4IQdsMpm/7LNnC0PSGQqfIxVZ8SbTKIb+jfkbcRVh1ovWBfa1PSuAkB748AsLlHF\n\
XgWPvVsT0JocH1n05j+Vz9WMJD9/OEyKnYpAOI+p2xG+IOqFto4iljXoRoWLTANu\n\
5+WBlVfvzC9q8lPvihu0/OJDJi67jh3V2lYRXcECgYEAkTRgfJyfnh7Mjm0hgmq/\n\
uDv1UjCIlgAbmxDX3IqE8tcrP3DLVm7aPQlEDlWIsALkk474Nm/aTX4PAVZjNb/8\n\
s3AljitvXMCPn+EHFnQaTZniNNvSXiefquvljBsrpdiQT07Iq4LNpM0bWG+1DlsT\n\
+MXd5g+KGNRl0o4+++T9yOY=\n\
-----END PRIVATE KEY-----\n\
";

/// Its public key (SPKI).
pub const RSA_PUBLIC_PEM: &str = "\
-----BEGIN PUBLIC KEY-----\n\
MIIBIjANBgkqhkiG9w0BAQEFAAOCAQ8AMIIBCgKCAQEAqW+YvNQk+lCQOPgKM4vS\n\
kx3iZo8g4ozZxYX//3Gf9dNRnLT7riilmfqiVOItc9rtMoP0bKpcmhX4O/V7IcJX\n\
+LoldZkjUD+Mh2gJLUqtcvAg6aoKQDC7a7EoztF0g0t7ufbeS8q2KLidyAHxF7PK\n\
ZP042ua/T5w/luUb15KD7jIQLCwH3dQq8G2Fl2pmYomcW92fB2toUWZROsc0u0xH\n\
0xAkY3B864PLpGV67reg5eP/DHJcTYEry0bDgIBzEPiaHkxBEK9+1VWx2gmj7F1a\n\
Mw9pvIJe/iUt8HlXBY4O+yltxzTCsgQHiOjRE31NeFzq5P+YKBBxhdMvWwfHcoHN\n\
bwIDAQAB\n\
-----END PUBLIC KEY-----\n\
";

/// Self-signed certificate of the RSA key.
pub const RSA_CERT_PEM: &str = "\
-----BEGIN CERTIFICATE-----\n\
MIIDFTCCAf2gAwIBAgIUbXTJF7LTHSWxNq/9KqL14AB9leQwDQYJKoZIhvcNAQEL\n\
BQAwGTEXMBUGA1UEAwwOZnV6ei10ZXN0LW9ubHkwIBcNMjYxMTI3MjEzMzM1WhgP\n\
MjEyNjExMDMyMTMzMzVaMBkxFzAVBgNVBAMMDmZ1enotdGVzdC1vbmx5MIIBIjAN\n\
BgkqhkiG9w0BAQEFAAOCAQ8AMIIBCgKCAQEAqW+YvNQk+lCQOPgKM4vSkx3iZo8g\n\
4ozZxYX//3Gf9dNRnLT7riilmfqiVOItc9rtMoP0bKpcmhX4O/V7IcJX+LoldZkj\n\
UD+Mh2gJLUqtcvAg6aoKQDC7a7EoztF0g0t7ufbeS8q2KLidyAHxF7PKZP042ua/\n\
T5w/luUb15KD7jIQLCwH3dQq8G2Fl2pmYomcW92fB2toUWZROsc0u0xH0xAkY3B8\n\
64PLpGV67reg5eP/DHJcTYEry0bDgIBzEPiaHkxBEK9+1VWx2gmj7F1aMw9pvIJe\n\
/iUt8HlXBY4O+yltxzTCsgQHiOjRE31NeFzq5P+YKBBxhdMvWwfHcoHNbwIDAQAB\n\
o1MwUTAdBgNVHQ4EFgQU1B2bDgWtalUH8SaFoio/FCZmEl4wHwYDVR0jBBgwFoAU\n\
1B2bDgWtalUH8SaFoio/FCZmEl4wDwYDVR0TAQH/BAUwAwEB/zANBgkqhkiG9w0B\n\
AQsFAAOCAQEAYTw9QHY0e+5aY9csEv5jejd0J44E3rIkUEnB9r32MbYRZKLfjJro\n\
2pdfr99CVbCMGkjrSkiZqMql1s0HH8+LQmLwnydv07gNGEox884Ifk4ahDhA1zms\n\
Irmg5lAqYKe5EMhFCRXzToYX/3M4lwRKr9h0n8kkN/KjMF7PL552aU02dzWsfBfx\n\
3U4IvvejNS9TrhfoFitOKKgTG726qcq25iI8doGSfy2J21oUsPF4Ae5aI3AR5sON\n\
pvUMSSFTdtUayrt6aBoLr3A3tizBWJCqalAtn8G1u/hrPkK2Kwwci2Hnb51cyeJb\n\
lqZE/bsAaQqrsGfYHQ7jIgs2d22B/5vRoQ==\n\
-----END CERTIFICATE-----\n\
";

/// EC P-256 private key (PKCS#8).
pub const EC_PRIVATE_PEM: &str = "\
-----BEGIN PRIVATE KEY-----\n\
MIGHAgEAMBMGByqGSM49AgEGCCqGSM49AwEHBG0wawIBAQQg3QSg9v2SeLvNn6x+\n\
f4gqGJ8JxXpukUFRZqOx2hOE0HShRANCAATLJ3tsLdGkOI47+w6BFOyktQxw/W7R\n\
FyJgXrG4vFvZizgSqzGJfrX7zkfB4DahpPB+t569MWigJugZrEEsw6PV\n\
-----END PRIVATE KEY-----\n\
";

/// Its public key (SPKI).
pub const EC_PUBLIC_PEM: &str = "\
-----BEGIN PUBLIC KEY-----\n\
MFkwEwYHKoZIzj0CAQYIKoZIzj0DAQcDQgAEyyd7bC3RpDiOO/sOgRTspLUMcP1u\n\
0RciYF6xuLxb2Ys4EqsxiX61+85HweA2oaTwfreevTFooCboGaxBLMOj1Q==\n\
-----END PUBLIC KEY-----\n\
";

/// Ed25519 private key (PKCS#8).
pub const ED25519_PRIVATE_PEM: &str = "\
-----BEGIN PRIVATE KEY-----\n\
MC4CAQAwBQYDK2VwBCIEIOwpFI9N29tNOZqxC49w5EXTSYDRAGrWNaf4kON1+99Z\n\
-----END PRIVATE KEY-----\n\
";

/// Its public key (SPKI).
pub const ED25519_PUBLIC_PEM: &str = "\
-----BEGIN PUBLIC KEY-----\n\
MCowBQYDK2VwAyEAAZAY6cew8PhMjRqYZv9ZN+lfzedJ2VUhrGqfLxm0Mkc=\n\
-----END PUBLIC KEY-----\n\
";

/// X25519 private key (PKCS#8), a decryption key of the `jwe` target (ECDH-ES*).
pub const X25519_PRIVATE_PEM: &str = "\
-----BEGIN PRIVATE KEY-----\n\
MC4CAQAwBQYDK2VuBCIEIABibbBxTOHlxK+s7QgQBzYTOMmnOYARLC15U1ryr8Be\n\
-----END PRIVATE KEY-----\n\
";

/// Its public key (SPKI).
pub const X25519_PUBLIC_PEM: &str = "\
-----BEGIN PUBLIC KEY-----\n\
MCowBQYDK2VuAyEA89YxkcbTX/RWDgTXXx4MdydLi7l/qd6UAhc0ISDaHl8=\n\
-----END PUBLIC KEY-----\n\
";

/// HMAC secret (64 random bytes: long enough for HS512, RFC 7518 section 3.2).
pub const HMAC_SECRET: &[u8] = &[
    0x61, 0x60, 0x3a, 0xa5, 0xfc, 0x31, 0xa8, 0x73, 0x12, 0xc5, 0xad, 0xa7, 0x39, 0xf1, 0xfb, 0x59,
    0xfb, 0x9f, 0xdc, 0xac, 0x4c, 0x60, 0x9c, 0xcf, 0x92, 0x93, 0xbc, 0xe1, 0x38, 0x0a, 0x75, 0x2d,
    0xd5, 0x82, 0xe5, 0xc8, 0x2a, 0xb4, 0xed, 0xa9, 0xcf, 0xbf, 0xa8, 0x99, 0x03, 0xea, 0x45, 0x1f,
    0x44, 0x23, 0x98, 0x65, 0x9b, 0x4e, 0x99, 0xa2, 0xfe, 0x98, 0x50, 0x39, 0x39, 0x2f, 0xd2, 0xf4,
];

/// Public JWK members of the RSA key.
pub const RSA_N: &str = "qW-YvNQk-lCQOPgKM4vSkx3iZo8g4ozZxYX__3Gf9dNRnLT7riilmfqiVOItc9rtMoP0bKpcmhX4O_V7IcJX-LoldZkjUD-Mh2gJLUqtcvAg6aoKQDC7a7EoztF0g0t7ufbeS8q2KLidyAHxF7PKZP042ua_T5w_luUb15KD7jIQLCwH3dQq8G2Fl2pmYomcW92fB2toUWZROsc0u0xH0xAkY3B864PLpGV67reg5eP_DHJcTYEry0bDgIBzEPiaHkxBEK9-1VWx2gmj7F1aMw9pvIJe_iUt8HlXBY4O-yltxzTCsgQHiOjRE31NeFzq5P-YKBBxhdMvWwfHcoHNbw";
/// RSA public exponent 65537.
pub const RSA_E: &str = "AQAB";
/// EC P-256 public point.
pub const EC_X: &str = "yyd7bC3RpDiOO_sOgRTspLUMcP1u0RciYF6xuLxb2Ys";
/// EC P-256 public point.
pub const EC_Y: &str = "OBKrMYl-tfvOR8HgNqGk8H63nr0xaKAm6BmsQSzDo9U";
/// Ed25519 public key.
pub const ED25519_X: &str = "AZAY6cew8PhMjRqYZv9ZN-lfzedJ2VUhrGqfLxm0Mkc";
/// [`HMAC_SECRET`] in base64url.
pub const HMAC_K: &str =
    "YWA6pfwxqHMSxa2nOfH7Wfuf3KxMYJzPkpO84TgKdS3VguXIKrTtqc-_qJkD6kUfRCOYZZtOmaL-mFA5OS_S9A";
