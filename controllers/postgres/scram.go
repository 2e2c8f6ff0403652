package postgres

import (
	"crypto/hmac"
	"crypto/pbkdf2"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"fmt"
	"net/url"
	"strings"
)

const scramIterations = 4096

// scramVerifier computes the SCRAM-SHA-256 verifier PostgreSQL stores for a
// password (RFC 5802, RFC 7677). Its alphabet is base64 plus '$' and ':', so it
// can sit in a quoted literal without escaping.
func scramVerifier(password string) (string, error) {
	salt := make([]byte, 16)
	if _, err := rand.Read(salt); err != nil {
		return "", err
	}
	return scramVerifierWithSalt(password, salt)
}

func scramVerifierWithSalt(password string, salt []byte) (string, error) {
	salted, err := pbkdf2.Key(sha256.New, password, salt, scramIterations, 32)
	if err != nil {
		return "", fmt.Errorf("computing password verifier: %w", err)
	}
	clientKey := hmacSHA256(salted, "Client Key")
	storedKey := sha256.Sum256(clientKey)
	serverKey := hmacSHA256(salted, "Server Key")
	b64 := base64.StdEncoding.EncodeToString
	return fmt.Sprintf("SCRAM-SHA-256$%d:%s$%s:%s", scramIterations, b64(salt), b64(storedKey[:]), b64(serverKey)), nil
}

func hmacSHA256(key []byte, msg string) []byte {
	m := hmac.New(sha256.New, key)
	m.Write([]byte(msg))
	return m.Sum(nil)
}

// RandomPassword returns 32 random bytes, URL-safe base64 encoded.
func RandomPassword() (string, error) {
	b := make([]byte, 32)
	if _, err := rand.Read(b); err != nil {
		return "", err
	}
	return base64.RawURLEncoding.EncodeToString(b), nil
}

// tenantDSN swaps user, password and database into the admin DSN, keeping
// host, port and parameters such as sslmode.
func tenantDSN(adminDSN, user, password string) (string, error) {
	if strings.HasPrefix(adminDSN, "postgres://") || strings.HasPrefix(adminDSN, "postgresql://") {
		u, err := url.Parse(adminDSN)
		if err != nil {
			return "", fmt.Errorf("the admin DSN does not parse")
		}
		u.User = url.UserPassword(user, password)
		u.Path = "/" + user
		return u.String(), nil
	}
	// key=value form: rebuild from the parsed fields that matter.
	kv := map[string]string{}
	for _, f := range strings.Fields(adminDSN) {
		k, v, ok := strings.Cut(f, "=")
		if !ok {
			return "", fmt.Errorf("the admin DSN does not parse")
		}
		kv[k] = strings.Trim(v, "'")
	}
	u := url.URL{Scheme: "postgres", User: url.UserPassword(user, password), Host: kv["host"], Path: "/" + user}
	if port := kv["port"]; port != "" {
		u.Host += ":" + port
	}
	q := url.Values{}
	for _, k := range []string{"sslmode", "sslrootcert", "connect_timeout"} {
		if v := kv[k]; v != "" {
			q.Set(k, v)
		}
	}
	u.RawQuery = q.Encode()
	return u.String(), nil
}
