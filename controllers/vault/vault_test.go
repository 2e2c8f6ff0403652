package vault_test

import (
	"context"
	"testing"
	"time"

	vaultapi "github.com/hashicorp/vault/api"

	"github.com/switchboard-dev/switchboard/controllers/vault"
	"github.com/switchboard-dev/switchboard/test/harness"
)

// TestKeepTokenAlive runs against a real Vault: a periodic token that the
// client renews outlives its period several times over, and the same token
// left alone expires.
func TestKeepTokenAlive(t *testing.T) {
	v, err := harness.StartVault()
	if err != nil {
		t.Fatal(err)
	}
	defer v.Close()
	root, err := vaultapi.NewClient(&vaultapi.Config{Address: v.Addr()})
	if err != nil {
		t.Fatal(err)
	}
	root.SetToken(harness.RootToken)
	token := func() string {
		s, err := root.Auth().Token().CreateOrphan(&vaultapi.TokenCreateRequest{Period: "4s", Policies: []string{"default"}})
		if err != nil {
			t.Fatal(err)
		}
		return s.Auth.ClientToken
	}
	alive := func(tok string) bool {
		c, _ := vaultapi.NewClient(&vaultapi.Config{Address: v.Addr()})
		c.SetToken(tok)
		_, err := c.Auth().Token().LookupSelf()
		return err == nil
	}
	renewed, left := token(), token()

	c, err := vault.New(vault.Config{Address: v.Addr(), Token: renewed}, nil)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		defer close(done)
		c.KeepTokenAlive(ctx, func(err error) { t.Errorf("keeping the token alive: %v", err) })
	}()
	time.Sleep(10 * time.Second)
	if !alive(renewed) {
		t.Error("the renewed token expired")
	}
	if alive(left) {
		t.Error("the control token, never renewed, is still alive: the test proves nothing")
	}
	cancel()
	<-done

	t.Run("a token that does not expire needs nothing", func(t *testing.T) {
		c, err := vault.New(vault.Config{Address: v.Addr(), Token: harness.RootToken}, nil)
		if err != nil {
			t.Fatal(err)
		}
		returned := make(chan struct{})
		go func() { c.KeepTokenAlive(context.Background(), func(error) {}); close(returned) }()
		select {
		case <-returned:
		case <-time.After(5 * time.Second):
			t.Fatal("KeepTokenAlive did not return for the root token")
		}
	})
}
