package store_test

import (
	"crypto/sha256"
	"errors"
	"sync"
	"testing"
	"time"

	"github.com/switchboard-dev/switchboard/runtime/internal/store"
	"github.com/switchboard-dev/switchboard/runtime/internal/store/storetest"
)

// TestUserByAPIToken covers the one statement that authenticates every API
// request: which tokens pass, and what it records for those that do.
func TestUserByAPIToken(t *testing.T) {
	st := storetest.NewDB(t)
	u, err := st.CreateUser(ctx, st.Pool, &store.User{Email: "tok@x.example", Name: "Tok", Role: "agent", PasswordHash: "x"})
	if err != nil {
		t.Fatal(err)
	}
	hash := func(s string) []byte { h := sha256.Sum256([]byte(s)); return h[:] }
	past := time.Now().Add(-time.Hour)
	future := time.Now().Add(time.Hour)
	live, err := st.CreateAPIToken(ctx, st.Pool, u.ID, "live", "sbt_live", hash("live"), store.ReadWrite, &future)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := st.CreateAPIToken(ctx, st.Pool, u.ID, "expired", "sbt_expi", hash("expired"), store.ReadOnly, &past); err != nil {
		t.Fatal(err)
	}
	revoked, err := st.CreateAPIToken(ctx, st.Pool, u.ID, "revoked", "sbt_revo", hash("revoked"), store.ReadWrite, nil)
	if err != nil {
		t.Fatal(err)
	}
	if err := st.RevokeAPIToken(ctx, st.Pool, u.ID, revoked.ID); err != nil {
		t.Fatal(err)
	}
	calls := func() (n int) {
		st.Pool.QueryRow(ctx, `SELECT count(*) FROM usage_events WHERE kind = 'api_call' AND user_id = $1 AND api_token_id = $2`, u.ID, live.ID).Scan(&n)
		return n
	}
	lastUsed := func() (at *time.Time) {
		st.Pool.QueryRow(ctx, `SELECT last_used_at FROM api_tokens WHERE id = $1`, live.ID).Scan(&at)
		return at
	}

	gotU, gotT, err := st.UserByAPIToken(ctx, hash("live"))
	if err != nil || gotU.ID != u.ID || gotU.Email != u.Email || gotT.ID != live.ID || gotT.Scope != store.ReadWrite || gotT.Expired {
		t.Fatalf("live token: %+v, %+v, %v", gotU, gotT, err)
	}
	first := lastUsed()
	if first == nil || calls() != 1 {
		t.Fatalf("after one use: last_used_at %v, api calls %d; want set and 1", first, calls())
	}

	// Many uses at once: each counted, the row written at most once a minute.
	var wg sync.WaitGroup
	for i := 0; i < 20; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if _, _, err := st.UserByAPIToken(ctx, hash("live")); err != nil {
				t.Error(err)
			}
		}()
	}
	wg.Wait()
	if calls() != 21 || !lastUsed().Equal(*first) {
		t.Errorf("after 21 uses within a minute: api calls %d, last_used_at %v (was %v); want 21 and unchanged", calls(), lastUsed(), first)
	}
	if _, err := st.Pool.Exec(ctx, `UPDATE api_tokens SET last_used_at = now() - interval '2 minutes' WHERE id = $1`, live.ID); err != nil {
		t.Fatal(err)
	}
	if _, _, err := st.UserByAPIToken(ctx, hash("live")); err != nil {
		t.Fatal(err)
	}
	if at := lastUsed(); at == nil || time.Since(*at) > time.Minute {
		t.Errorf("a use after a minute did not move last_used_at: %v", at)
	}

	for _, c := range []struct {
		token string
		want  error
	}{{"expired", store.ErrExpired}, {"revoked", store.ErrNotFound}, {"unknown", store.ErrNotFound}} {
		if _, _, err := st.UserByAPIToken(ctx, hash(c.token)); !errors.Is(err, c.want) {
			t.Errorf("%s token: %v, want %v", c.token, err, c.want)
		}
	}
	if err := st.SetDisabled(ctx, st.Pool, u.ID, true); err != nil {
		t.Fatal(err)
	}
	if _, _, err := st.UserByAPIToken(ctx, hash("live")); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("token of a disabled user: %v, want ErrNotFound", err)
	}
	var all int
	st.Pool.QueryRow(ctx, `SELECT count(*) FROM usage_events WHERE kind = 'api_call'`).Scan(&all)
	if all != 22 {
		t.Errorf("api calls recorded = %d, want 22: refused requests are not counted", all)
	}
}
