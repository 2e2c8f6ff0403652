package microsoft

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"sync"
	"time"

	"github.com/switchboard-dev/switchboard/runtime/contract"
	"github.com/switchboard-dev/switchboard/runtime/internal/adapter"
)

// RefreshSkew is how long before its expiry an access token is replaced:
// a token handed to an IMAP or SMTP login must outlive the login.
const RefreshSkew = 5 * time.Minute

// ErrNotConnected: no tokens exist yet; a tenant admin must connect the
// mailbox from the settings page.
var ErrNotConnected = errors.New("the mailbox is not connected: a tenant admin must connect it from Settings")

// tokenSet is one TokensEntry (contract.Token* keys).
type tokenSet struct {
	Access, Refresh string
	Expiry          time.Time
	// Account is the Microsoft account that consented (from the ID token).
	Account     string
	CredVersion int
}

func (t tokenSet) encode() map[string]string {
	return map[string]string{
		contract.TokenAccess:             t.Access,
		contract.TokenRefresh:            t.Refresh,
		contract.TokenExpiresAt:          t.Expiry.UTC().Format(time.RFC3339),
		contract.TokenAccount:            t.Account,
		contract.TokenCredentialsVersion: strconv.Itoa(t.CredVersion),
	}
}

// decodeTokens reads a TokensEntry; ok is false when it holds no refresh
// token (none yet, or cleared).
func decodeTokens(m map[string]string) (t tokenSet, ok bool) {
	t.Access, t.Refresh, t.Account = m[contract.TokenAccess], m[contract.TokenRefresh], m[contract.TokenAccount]
	t.Expiry, _ = time.Parse(time.RFC3339, m[contract.TokenExpiresAt]) // unreadable: expired, so refreshed
	t.CredVersion, _ = strconv.Atoi(m[contract.TokenCredentialsVersion])
	return t, t.Refresh != ""
}

// fromResponse is what a token answer becomes in the entry. The expiry is
// counted from when the request was sent, so it is never late.
func fromResponse(r *tokenResponse, sent time.Time, account string, credVersion int) tokenSet {
	if a := idTokenAccount(r.IDToken); a != "" {
		account = a
	}
	return tokenSet{Access: r.AccessToken, Refresh: r.RefreshToken, Expiry: sent.Add(r.ExpiresIn), Account: account, CredVersion: credVersion}
}

// tokenSource hands out access tokens, refreshing them through the token
// endpoint and keeping them in the runtime's Vault entry (adapter.TokenStore).
//
// Every refresh returns a new refresh token, and the one used may stop
// working at once (Microsoft may keep it a while; nothing promises it). So
// replicas must not refresh the same token at once, and a new pair must be
// stored before its access token is used:
//
//  1. A replica that finds the access token near its expiry claims the
//     refresh: it writes the same tokens with a lease (leaseKey, until
//     now+refreshLease), with check-and-set on the version it read. Only one
//     claim wins; the others wait for the lease to end and read again.
//  2. The winner refreshes, then writes the new pair with check-and-set on
//     its claim's version. A lost race there means the entry was replaced
//     meanwhile (an admin connected the mailbox anew): it reads that.
//  3. A lease whose holder died lapses, and another replica claims it.
//
// A refusal of the grant itself (invalid_grant) is remembered for that
// refresh token, which is not tried again: the connection waits for a
// tenant admin to connect it anew.
type tokenSource struct {
	store       adapter.TokenStore
	oauth       *oauthClient
	now         func() time.Time
	credVersion int
	// seed is a refresh token from the Integration's Secret (optional),
	// used when the entry holds none.
	seed string
	// poll is how often a replica waiting for another's refresh reads the
	// entry; 0 is 250 ms.
	poll time.Duration

	mu      sync.Mutex
	cur     tokenSet
	version int
	have    bool
	// refused is a refresh token the provider refused for good, and why.
	refused    string
	refusedErr error
	// distrusted is an access token a mail server refused: it is
	// refreshed even if it has not expired.
	distrusted string
}

// leaseKey is the entry's key holding, while a replica refreshes, until
// when the others leave the refresh to it (RFC 3339). It is the adapter's
// own: nothing else reads it.
const leaseKey = "refreshLeaseUntil"

// refreshLease is how long a claim to refresh lasts; tokenTimeout bounds
// the token request, so that a claim outlives it.
const (
	refreshLease = 60 * time.Second
	tokenTimeout = 20 * time.Second
)

// token returns tokens whose access token is valid for at least
// RefreshSkew, refreshing them if needed. Its errors: ErrNotConnected, an
// *Error from the token endpoint (GrantGone, Temporary, or a refusal of the
// client), or a failure to read or write Vault.
func (ts *tokenSource) token(ctx context.Context) (tokenSet, error) {
	ts.mu.Lock()
	defer ts.mu.Unlock()
	if ts.have && ts.fresh(ts.cur) {
		return ts.cur, nil
	}
	// Each pass reads the entry. A pass ends early when another writer (a
	// replica's claim or refresh, a new connection) changed it meanwhile.
	conflicts := 0
	for conflicts < 8 {
		data, version, err := ts.store.Read(ctx)
		if err != nil {
			return tokenSet{}, fmt.Errorf("reading the mailbox's tokens from vault: %w", err)
		}
		cur, ok := decodeTokens(data)
		if !ok {
			if ts.seed == "" {
				ts.have = false
				return tokenSet{}, ErrNotConnected
			}
			cur = tokenSet{Refresh: ts.seed, CredVersion: ts.credVersion}
		}
		ts.cur, ts.version, ts.have = cur, version, true
		if ts.fresh(cur) {
			return cur, nil
		}
		if cur.Refresh == ts.refused {
			return tokenSet{}, ts.refusedErr
		}
		if until, err := time.Parse(time.RFC3339Nano, data[leaseKey]); err == nil && ts.clock().Before(until) {
			// Another replica is refreshing: wait for its result.
			if err := ts.sleep(ctx); err != nil {
				return tokenSet{}, err
			}
			continue
		}
		claim := cur.encode()
		claim[leaseKey] = ts.clock().Add(refreshLease).UTC().Format(time.RFC3339Nano)
		claimed, err := ts.store.Write(ctx, claim, version)
		if errors.Is(err, adapter.ErrConflict) {
			conflicts++
			continue
		}
		if err != nil {
			return tokenSet{}, fmt.Errorf("claiming the token refresh in vault: %w", err)
		}
		next, err := ts.refresh(ctx, cur)
		if err != nil {
			var oe *Error
			if errors.As(err, &oe) && !oe.Temporary() {
				ts.refused, ts.refusedErr = cur.Refresh, err
			}
			// Lift the claim so that another replica need not wait for it
			// to lapse; if this fails, it lapses.
			_, _ = ts.store.Write(ctx, cur.encode(), claimed)
			return tokenSet{}, err
		}
		nv, err := ts.store.Write(ctx, next.encode(), claimed)
		if errors.Is(err, adapter.ErrConflict) {
			conflicts++
			continue // replaced meanwhile by a new connection: read it
		}
		if err != nil {
			// The new refresh token is lost with this answer; the old one
			// may still work, so nothing is used. The claim lapses.
			return tokenSet{}, fmt.Errorf("storing the refreshed tokens in vault: %w", err)
		}
		ts.cur, ts.version = next, nv
		return next, nil
	}
	return tokenSet{}, errors.New("the mailbox's tokens kept changing while they were refreshed; trying again later")
}

// refresh redeems cur's refresh token.
func (ts *tokenSource) refresh(ctx context.Context, cur tokenSet) (tokenSet, error) {
	rctx, cancel := context.WithTimeout(ctx, tokenTimeout)
	defer cancel()
	sent := ts.clock()
	resp, err := ts.oauth.refresh(rctx, cur.Refresh)
	if err != nil {
		return tokenSet{}, err
	}
	return fromResponse(resp, sent, cur.Account, ts.credVersion), nil
}

func (ts *tokenSource) sleep(ctx context.Context) error {
	d := ts.poll
	if d == 0 {
		d = 250 * time.Millisecond
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C:
		return nil
	}
}

// store writes tokens from a new connection (an authorization code), over
// whatever the entry held, and makes them current.
func (ts *tokenSource) replace(ctx context.Context, next tokenSet) error {
	ts.mu.Lock()
	defer ts.mu.Unlock()
	for range 4 {
		_, version, err := ts.store.Read(ctx)
		if err != nil {
			return fmt.Errorf("reading the mailbox's tokens from vault: %w", err)
		}
		nv, err := ts.store.Write(ctx, next.encode(), version)
		if errors.Is(err, adapter.ErrConflict) {
			continue
		}
		if err != nil {
			return fmt.Errorf("storing the mailbox's tokens in vault: %w", err)
		}
		ts.cur, ts.version, ts.have = next, nv, true
		ts.refused, ts.refusedErr = "", nil
		return nil
	}
	return errors.New("the mailbox's tokens kept changing while the new ones were stored; connect again")
}

// distrust marks the current access token as refused by a mail server
// (revoked before its expiry), so the next token call refreshes it. It
// says whether that token was trusted until now.
func (ts *tokenSource) distrust() bool {
	ts.mu.Lock()
	defer ts.mu.Unlock()
	if !ts.have || ts.cur.Access == "" || ts.distrusted == ts.cur.Access {
		return false
	}
	ts.distrusted = ts.cur.Access
	return true
}

// account is the connected account, as last read.
func (ts *tokenSource) account() string {
	ts.mu.Lock()
	defer ts.mu.Unlock()
	if !ts.have {
		return ""
	}
	return ts.cur.Account
}

// secrets lists the token values held in memory (for Credentials).
func (ts *tokenSource) secrets() []string {
	ts.mu.Lock()
	defer ts.mu.Unlock()
	var out []string
	for _, s := range []string{ts.cur.Access, ts.cur.Refresh, ts.refused, ts.seed, ts.distrusted} {
		if s != "" {
			out = append(out, s)
		}
	}
	return out
}

// drop forgets every token.
func (ts *tokenSource) drop() {
	ts.mu.Lock()
	defer ts.mu.Unlock()
	ts.cur, ts.have, ts.refused, ts.refusedErr, ts.seed, ts.distrusted = tokenSet{}, false, "", nil, "", ""
}

func (ts *tokenSource) fresh(t tokenSet) bool {
	return t.Access != "" && t.Access != ts.distrusted && ts.clock().Add(RefreshSkew).Before(t.Expiry)
}

func (ts *tokenSource) clock() time.Time {
	if ts.now != nil {
		return ts.now()
	}
	return time.Now()
}
