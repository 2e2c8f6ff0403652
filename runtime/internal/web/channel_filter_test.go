package web

import (
	"io"
	"net/http"
	"reflect"
	"strings"
	"testing"

	"github.com/switchboard-dev/switchboard/runtime/contract"
	"github.com/switchboard-dev/switchboard/runtime/internal/adapter"
	"github.com/switchboard-dev/switchboard/runtime/internal/auth"
	"github.com/switchboard-dev/switchboard/runtime/internal/integrations"
)

type statusList []integrations.Status

func (l statusList) Statuses() []integrations.Status  { return l }
func (statusList) Get(string) (adapter.Adapter, bool) { return nil, false }
func (statusList) OfType(string) []adapter.Adapter    { return nil }

func TestChannelFiltersListConnectedChannels(t *testing.T) {
	s := &Server{Options: Options{Integrations: statusList{
		{Name: "sms", Type: "telnyx", Key: "telnyx/sms"},
		{Name: "support", Type: "imap", Key: "imap/support"},
		{Name: "shop", Type: "shopify", Key: "shopify/shop"}, // carries no conversations
	}}}
	got := s.channelFilters("whatsapp/old")
	want := []channelFilter{{"api", "API"}, {"telnyx/sms", "SMS · sms"}, {"imap/support", "Email · support"}, {"whatsapp/old", "WhatsApp · old"}}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("filters = %v, want %v", got, want)
	}
}

func TestAdminsSeeEveryUnhealthyIntegration(t *testing.T) {
	f := newFixture(t)
	f.srv.Integrations = statusList{
		{Name: "sms", Type: "telnyx", Key: "telnyx/sms", State: contract.HealthAuthFailed, Code: "10009", Message: "Telnyx refused the API key"},
		{Name: "mail", Type: "microsoft", Key: "microsoft/mail", State: contract.HealthReauthorizationRequired, Code: "invalid_grant"},
		{Name: "wa", Type: "whatsapp", Key: "whatsapp/wa", State: contract.HealthConnected},
	}
	page := func(role auth.Role) string {
		resp := f.do(role, http.MethodGet, "/inbox", nil, false)
		b, _ := io.ReadAll(resp.Body)
		if resp.StatusCode != http.StatusOK {
			t.Fatalf("GET /inbox as %s: %s", role, resp.Status)
		}
		return string(b)
	}
	admin := page(auth.Admin)
	for _, want := range []string{`data-integration="sms"`, "code 10009", "Telnyx refused the API key",
		`data-integration="mail"`, `href="/settings/integrations/mail/connect"`} {
		if !strings.Contains(admin, want) {
			t.Errorf("an admin's page lacks %q", want)
		}
	}
	if strings.Contains(admin, `data-integration="wa"`) {
		t.Error("a connected integration has a banner")
	}
	if agent := page(auth.Agent); strings.Contains(agent, "data-integration=") {
		t.Error("an agent sees integration banners; they are for admins, who can act on them")
	}
}
