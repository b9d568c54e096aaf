/*
 * jwt_keys.h - key pairs for the unit tests of jwt.c and config.c, made
 * once with openssl for these tests and for nothing else: never trust
 * them anywhere.
 */
#ifndef INBOXD_TEST_JWT_KEYS_H
#define INBOXD_TEST_JWT_KEYS_H

/* RSA, 2048 bits: openssl genrsa 2048, and its public key. */
static const char TEST_RSA_PEM[] =
    "-----BEGIN PRIVATE KEY-----\n"
    "MIIEvQIBADANBgkqhkiG9w0BAQEFAASCBKcwggSjAgEAAoIBAQCPracly/183Lod\n"
    "MIhEP589l4L25KwNJhMg/DaBDSIhZkyPssJLAGsYf9kxCBVkfKhArMb1OCI1Wsa1\n"
    "fO4OIV8FKXh44lI3tGsh2zhm8h2v1ewy5s9ttkZYAw7Dyw/tlm1UNWH2Yf17iQvG\n"
    "C8ZHGzFpL2vpBichFMjymwQxp9SKGlGYM5JfjVXRyQNRquFcMTO5qCVDhBhTYkTN\n"
    "3V4UEgfWOmlo0hRodFWI5uhMkuonrN3e6DdM9JU7f0qL+NUFqzuYq2dvtwg8ZN2t\n"
    "cGSQ1s22Va8XjZnjdgFiw3TqHlyGbxr6YI+UksUI5yubfLilPElBeHstSftqFMr0\n"
    "17ajzxMZAgMBAAECggEAHEKZRl9twBIAT358xwPGlAxJl7tZtgpfp9TD+bU2GeCv\n"
    "vXH5MlxmND7tXu4KmyXDyFjTl2cPn3P38rmcb04UDQVfq1NEva0wh0vBt8n2md/X\n"
    "YhmxAhDgnC4ZyNwXiXFVlsMbPiV/AL3vgWhOeyz3lotby81IhAK9Fa7077llnjYM\n"
    "lTCu2n2yrZci0+pxSDjwUPy/9eE0ieevGbzBkPE8A35nl8Up3ZycbCaKBko87Dqu\n"
    "DnbIAfA5by76aZxIKZ+ZNKDeVP3PqUM7+OtgIK/kBSuvzpVQBr27pNgHQ3+oBdha\n"
    "SZXKHU/HNEhVQQ7eJiBTO3LgvvZAc5gSIqgd7qDCIwKBgQDAo74Ig4qXiBTMq8Xf\n"
    "LYrFgMTdI8edMKIWKfZmL+fPUN2DBs5Q71RwDjFeHzeCzzydGCMOTESUOracM1n5\n"
    "7Mu1q159B0GGVwM6oGSQszXOb6s5buT4UsjDQTyO0ooHr075Pk8KqIfhEtpmink5\n"
    "i195RlhxlixxSbEdOv+V45MHbwKBgQC+716rWWIdmSfqw3XKeQosr+KY/ViZTN5U\n"
    "NMpqBTcZwQC62OEQ8J7EyQaz0PH3BTHrBRe/L7ry9tN5CpGI2b6Ho+r1gyhKUUfV\n"
    "q4TPrx4MguBCea2xcRrR++tdxn6Lhg+n1nXWAbiucDcjtaCaAD6DtGw+qIW5g7oA\n"
    "8WqSHVAJ9wKBgDD2LSmazVHgS3ENw5gKyjeSl/agzm5cWwYJGlA0otVldzeDNlMJ\n"
    "0Us9wDxs8L31kDFZXieXKOMH3TvsLVVBYzFEYhqjCntriC2RcJ36fpV+emV5kwau\n"
    "e8psvUiLqHt1ijv9IzfRR9/j29CuJ0uB6f037OjJw3fzw+lrAmUFV2xPAoGBAJfF\n"
    "Mh1GGYWpfl9QK0tcV0gaLyapC0ogHgIVTGhl6Nyh2/CqAI00lx+ZI6i/h/ZwvLMy\n"
    "AyRHznTe2k42pmR/oMG0/ElXjik03sLradCkRGBxj82HZxfK7iTH+Nk7tM83Ky6g\n"
    "fF42VBTkwg+yigyf8RFD018jGdjS6oFhZPLsNfkVAoGAaCrR5yue0bt4Q8/o6L3M\n"
    "wSzaXfj+i/gW3+YQzNXzAs1E4N346Tm3JYVPVOHPcy/K7hI+nen6ZBYSscIhjb18\n"
    "KUfuzVudOyCxY5pTTCuaZDaYCtn1fsjOdzPMQvOpUxk2hAPf6HvxB9oxO6Owxhmc\n"
    "BY8YczJgFO9Ee5+zTSoE6ds=\n"
    "-----END PRIVATE KEY-----\n";
static const char TEST_RSA_PUB[] =
    "-----BEGIN PUBLIC KEY-----\n"
    "MIIBIjANBgkqhkiG9w0BAQEFAAOCAQ8AMIIBCgKCAQEAj62nJcv9fNy6HTCIRD+f\n"
    "PZeC9uSsDSYTIPw2gQ0iIWZMj7LCSwBrGH/ZMQgVZHyoQKzG9TgiNVrGtXzuDiFf\n"
    "BSl4eOJSN7RrIds4ZvIdr9XsMubPbbZGWAMOw8sP7ZZtVDVh9mH9e4kLxgvGRxsx\n"
    "aS9r6QYnIRTI8psEMafUihpRmDOSX41V0ckDUarhXDEzuaglQ4QYU2JEzd1eFBIH\n"
    "1jppaNIUaHRViOboTJLqJ6zd3ug3TPSVO39Ki/jVBas7mKtnb7cIPGTdrXBkkNbN\n"
    "tlWvF42Z43YBYsN06h5chm8a+mCPlJLFCOcrm3y4pTxJQXh7LUn7ahTK9Ne2o88T\n"
    "GQIDAQAB\n"
    "-----END PUBLIC KEY-----\n";

/* EC on P-256: openssl ecparam -name prime256v1 -genkey. */
static const char TEST_EC_PEM[] =
    "-----BEGIN EC PRIVATE KEY-----\n"
    "MHcCAQEEIEBvIrB0fjbgM/qjx2WRu7jZyVCg+t3Uhuou3qT2RWSXoAoGCCqGSM49\n"
    "AwEHoUQDQgAEeKqDdUQXyyP7NcUxbBTWOyFfugnyLtdWv1DTWFuYAnZKGfceOjv/\n"
    "yNlQ1PT5JWp0ruD8R6lDK2g140PqLl9dWQ==\n"
    "-----END EC PRIVATE KEY-----\n";
static const char TEST_EC_PUB[] =
    "-----BEGIN PUBLIC KEY-----\n"
    "MFkwEwYHKoZIzj0CAQYIKoZIzj0DAQcDQgAEeKqDdUQXyyP7NcUxbBTWOyFfugny\n"
    "LtdWv1DTWFuYAnZKGfceOjv/yNlQ1PT5JWp0ruD8R6lDK2g140PqLl9dWQ==\n"
    "-----END PUBLIC KEY-----\n";

/* An HS256 secret of 40 bytes. */
#define TEST_HS_SECRET "a secret of forty bytes for HS256 tests!"

#endif
